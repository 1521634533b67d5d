package echo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// Defaults for Server's zero fields.
const (
	DefaultMaxFrameBytes = 16 << 20
	DefaultBufferSize    = 32 << 10
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("echo: server closed")

// Server is a WebSocket echo server. The zero value is ready to use; set
// fields before the first Serve. A Server is safe for concurrent use.
type Server struct {
	// MaxFrameBytes caps one frame's payload; a bigger frame is answered
	// with Close 1009. Default DefaultMaxFrameBytes.
	MaxFrameBytes int64
	// ReadBufferSize and WriteBufferSize size each connection's buffers.
	// Default DefaultBufferSize.
	ReadBufferSize, WriteBufferSize int

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[net.Conn]struct{}
	closed   bool
	sessions sync.WaitGroup
}

// Serve accepts connections on ln until ln fails or Close is called, and
// serves each in its own goroutine, owned by s and waited for by Close.
// It returns ErrServerClosed after Close.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln) {
		_ = ln.Close()
		return ErrServerClosed
	}
	defer s.untrack(ln)
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if retryable(err) {
				// Out of descriptors or an aborted accept: the listener is
				// still good; back off a little instead of spinning.
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return fmt.Errorf("echo: accept: %w", err)
		}
		if !s.add(c) {
			_ = c.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.done(c)
			_ = s.serveConn(c)
		}()
	}
}

func retryable(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// Close stops every listener, closes every connection and waits until all
// connection goroutines have returned.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.lns {
		_ = ln.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.sessions.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.lns == nil {
		s.lns = make(map[net.Listener]struct{})
	}
	s.lns[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	delete(s.lns, ln)
	s.mu.Unlock()
}

func (s *Server) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.sessions.Add(1)
	return true
}

func (s *Server) done(c net.Conn) {
	_ = c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.sessions.Done()
}

// serveConn runs one session: handshake, then the echo loop until the peer
// closes or breaks the protocol.
//
// The handshake reads straight from c, so a client must wait for the 101
// before it sends frames (RFC 6455 §4.1); every client of the bench does.
func (s *Server) serveConn(c net.Conn) error {
	if _, err := ws.Upgrade(c); err != nil {
		return fmt.Errorf("echo: upgrade: %w", err)
	}
	max := s.MaxFrameBytes
	if max <= 0 {
		max = DefaultMaxFrameBytes
	}
	rs, wsz := s.ReadBufferSize, s.WriteBufferSize
	if rs <= 0 {
		rs = DefaultBufferSize
	}
	if wsz <= 0 {
		wsz = DefaultBufferSize
	}
	e := session{
		br:  bufio.NewReaderSize(c, rs),
		bw:  bufio.NewWriterSize(c, wsz),
		max: max,
	}
	return e.run()
}

// session is one connection's echo loop. It is used by one goroutine.
type session struct {
	br   *bufio.Reader
	bw   *bufio.Writer
	max  int64
	hdr  [ws.MaxHeaderSize]byte
	buf  []byte // payload of the frame in flight; grows to the largest frame seen
	frag bool   // a fragmented data message is in progress
}

// Sentinel outcomes of a session; they end it, they are not reported to
// anyone but tests.
var (
	errProtocol = errors.New("echo: protocol error")
	errTooBig   = errors.New("echo: frame too big")
	errClosed   = errors.New("echo: closed by peer")
)

// run echoes frames until the session ends. Steady state does not allocate:
// buf is reused, headers are read and written through hdr.
func (e *session) run() error {
	for {
		h, err := ws.ReadHeaderBuffer(e.br, e.hdr[:])
		if err != nil {
			return fmt.Errorf("echo: read header: %w", err)
		}
		if err := e.check(h); err != nil {
			code := ws.StatusProtocolError
			if errors.Is(err, errTooBig) {
				code = ws.StatusMessageTooBig
			}
			e.closeWith(code)
			return err
		}
		p, err := e.payload(h)
		if err != nil {
			return err
		}
		switch h.OpCode {
		case ws.OpPing:
			err = e.write(ws.OpPong, true, p)
		case ws.OpPong:
			continue
		case ws.OpClose:
			// Answer with the peer's own code (RFC 6455 §5.5.1); an empty
			// Close gets an empty Close.
			if len(p) >= 2 {
				p = p[:2]
			}
			if err := e.write(ws.OpClose, true, p); err != nil {
				return err
			}
			if err := e.bw.Flush(); err != nil {
				return fmt.Errorf("echo: flush: %w", err)
			}
			return errClosed
		default:
			err = e.write(h.OpCode, h.Fin, p)
		}
		if err != nil {
			return err
		}
		// Flush only when nothing else is buffered to read: a pipelining
		// client gets its echoes batched into fewer writes.
		if e.br.Buffered() == 0 {
			if err := e.bw.Flush(); err != nil {
				return fmt.Errorf("echo: flush: %w", err)
			}
		}
	}
}

// check validates a client frame header (RFC 6455 §5.1–§5.5).
func (e *session) check(h ws.Header) error {
	switch {
	case !h.Masked:
		return fmt.Errorf("%w: unmasked client frame", errProtocol)
	case h.Rsv != 0:
		return fmt.Errorf("%w: RSV bits set", errProtocol)
	case h.OpCode.IsReserved():
		return fmt.Errorf("%w: reserved opcode %d", errProtocol, h.OpCode)
	case h.OpCode.IsControl() && (h.Length > 125 || !h.Fin):
		return fmt.Errorf("%w: bad control frame", errProtocol)
	case h.Length > e.max:
		return fmt.Errorf("%w: %d > %d bytes", errTooBig, h.Length, e.max)
	case h.OpCode == ws.OpContinuation && !e.frag:
		return fmt.Errorf("%w: continuation without a message", errProtocol)
	case (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary) && e.frag:
		return fmt.Errorf("%w: new message inside a fragmented one", errProtocol)
	}
	if h.OpCode.IsData() || h.OpCode == ws.OpContinuation {
		e.frag = !h.Fin
	}
	return nil
}

// payload reads and unmasks the frame's payload into e.buf.
func (e *session) payload(h ws.Header) ([]byte, error) {
	n := int(h.Length)
	if cap(e.buf) < n {
		e.buf = make([]byte, n)
	}
	p := e.buf[:n]
	if _, err := io.ReadFull(e.br, p); err != nil {
		return nil, fmt.Errorf("echo: read payload: %w", err)
	}
	ws.Cipher(p, h.Mask, 0)
	return p, nil
}

func (e *session) write(op ws.OpCode, fin bool, p []byte) error {
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(p))}
	if err := ws.WriteHeaderBuffer(e.bw, h, e.hdr[:]); err != nil {
		return fmt.Errorf("echo: write header: %w", err)
	}
	if _, err := e.bw.Write(p); err != nil {
		return fmt.Errorf("echo: write payload: %w", err)
	}
	return nil
}

// closeWith sends a Close with code, best effort: the session ends anyway.
func (e *session) closeWith(code ws.StatusCode) {
	var body [2]byte
	ws.PutCloseFrameBody(body[:], code, "")
	if e.write(ws.OpClose, true, body[:]) == nil {
		_ = e.bw.Flush()
	}
}
