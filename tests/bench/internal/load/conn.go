package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Defaults for Dialer's zero fields.
const (
	DefaultBufferSize   = 64 << 10
	DefaultMaxMessage   = 16 << 20
	DefaultDialTimeout  = 10 * time.Second
	DefaultCloseTimeout = 5 * time.Second
)

// Sentinel errors. They are wrapped with context; match them with errors.Is.
var (
	// ErrMismatch: an echo differs from what was sent (content, order or
	// opcode).
	ErrMismatch = errors.New("load: echo mismatch")
	// ErrProtocol: the server broke RFC 6455 (masked frame, RSV bits,
	// reserved opcode, bad fragmentation, oversized control frame).
	ErrProtocol = errors.New("load: protocol violation by server")
	// ErrTooLarge: a message exceeds Dialer.MaxMessage.
	ErrTooLarge = errors.New("load: message too large")
	// ErrLost: echoes still missing when a mode's drain time ran out.
	ErrLost = errors.New("load: echoes lost")
	// ErrConfig: a mode was given an unusable configuration.
	ErrConfig = errors.New("load: bad config")
)

// CloseError reports a Close frame received from the server.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("load: closed by server: %d %s", e.Code, e.Reason)
}

// Dialer opens client sessions to one WebSocket URL. Fields are read-only
// once a mode runs; a Dialer is safe for concurrent use.
type Dialer struct {
	// URL is the ws:// URL of the target.
	URL string
	// Sources, when not empty, are the local addresses to bind, used in
	// turn (session i binds Sources[i%len]): each loopback source address
	// has its own range of ephemeral ports, so many of them let one
	// machine open more sessions than one address has ports.
	Sources []net.IP
	// Timeout bounds connect plus upgrade. Default DefaultDialTimeout.
	Timeout time.Duration
	// ReadBufferSize and WriteBufferSize size each session's buffers.
	// Default DefaultBufferSize.
	ReadBufferSize, WriteBufferSize int
	// MaxMessage caps a received message. Default DefaultMaxMessage.
	MaxMessage int64
}

// Dial opens session number i (which picks its source address) and
// completes the upgrade.
func (d *Dialer) Dial(ctx context.Context, i int) (*Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	nd := net.Dialer{}
	if len(d.Sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.Sources[i%len(d.Sources)]}
	}
	wd := ws.Dialer{
		Timeout: timeout,
		NetDial: nd.DialContext,
	}
	nc, hbr, _, err := wd.Dial(ctx, d.URL)
	if err != nil {
		return nil, fmt.Errorf("load: dial %s: %w", d.URL, err)
	}
	var r io.Reader = nc
	if hbr != nil {
		// The server sent bytes right behind its 101; they sit in the
		// handshake's reader and must be read first.
		r = io.MultiReader(hbr, nc)
	}
	return newConn(nc, r, d.ReadBufferSize, d.WriteBufferSize, d.MaxMessage), nil
}

// newConn wraps an upgraded connection; r is where its frames are read
// from (nc itself, or bytes left from the handshake followed by nc). Zero
// sizes take the defaults.
func newConn(nc net.Conn, r io.Reader, readSize, writeSize int, maxMessage int64) *Conn {
	if readSize <= 0 {
		readSize = DefaultBufferSize
	}
	if writeSize <= 0 {
		writeSize = DefaultBufferSize
	}
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	return &Conn{
		nc:  nc,
		br:  bufio.NewReaderSize(r, readSize),
		bw:  bufio.NewWriterSize(nc, writeSize),
		max: maxMessage,
	}
}

// Conn is one client session.
//
// Concurrency: at most one goroutine reads (ReadMessage, Echo, Close) and
// any number may write; writes are serialized by a mutex because the
// reader writes too (pongs, close replies).
type Conn struct {
	nc  net.Conn
	br  *bufio.Reader
	max int64

	wmu  sync.Mutex
	bw   *bufio.Writer
	whdr [ws.MaxHeaderSize]byte

	rhdr [ws.MaxHeaderSize]byte
	msg  []byte // message being assembled; reused
	ctl  [125]byte

	// closing is set by StopReader: a read that fails after it is an
	// expected wake-up, not an error.
	closing   atomic.Bool
	closeSent bool // guarded by wmu
}

// NetConn returns the underlying connection (for deadlines).
func (c *Conn) NetConn() net.Conn { return c.nc }

// WriteMessage writes one masked, unfragmented message. With flush false it
// stays in the write buffer until a later flush (or until the buffer
// fills), so a pipelining writer can batch small messages into one write.
func (c *Conn) WriteMessage(op ws.OpCode, p []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeFrame(op, p); err != nil {
		return err
	}
	if flush {
		return c.flushLocked()
	}
	return nil
}

// Flush writes out what WriteMessage buffered.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("load: flush: %w", err)
	}
	return nil
}

// writeFrame masks p into the write buffer without touching p: the caller
// keeps its payload to compare the echo against. The mask comes from the
// runtime's ChaCha8 generator, unpredictable enough for RFC 6455 §5.3 in a
// load tool and far cheaper than crypto/rand per frame.
func (c *Conn) writeFrame(op ws.OpCode, p []byte) error {
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(p))}
	if err := ws.WriteHeaderBuffer(c.bw, h, c.whdr[:]); err != nil {
		return fmt.Errorf("load: write header: %w", err)
	}
	for off := 0; off < len(p); {
		if c.bw.Available() == 0 {
			if err := c.bw.Flush(); err != nil {
				return fmt.Errorf("load: write payload: %w", err)
			}
		}
		chunk := p[off:min(len(p), off+c.bw.Available())]
		buf := append(c.bw.AvailableBuffer(), chunk...)
		ws.Cipher(buf, mask, off)
		if _, err := c.bw.Write(buf); err != nil {
			return fmt.Errorf("load: write payload: %w", err)
		}
		off += len(chunk)
	}
	return nil
}

// ReadMessage returns the next data message. Its payload is valid until the
// next read. Pings are answered, pongs skipped; a Close from the server is
// answered and returned as *CloseError.
func (c *Conn) ReadMessage() (ws.OpCode, []byte, error) {
	var (
		op  ws.OpCode
		n   int
		mid bool // inside a fragmented message
	)
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.rhdr[:])
		if err != nil {
			return 0, nil, fmt.Errorf("load: read header: %w", err)
		}
		switch {
		case h.Masked:
			return 0, nil, fmt.Errorf("%w: masked server frame", ErrProtocol)
		case h.Rsv != 0:
			return 0, nil, fmt.Errorf("%w: RSV bits set", ErrProtocol)
		case h.OpCode.IsReserved():
			return 0, nil, fmt.Errorf("%w: reserved opcode %d", ErrProtocol, h.OpCode)
		}
		if h.OpCode.IsControl() {
			if h.Length > int64(len(c.ctl)) || !h.Fin {
				return 0, nil, fmt.Errorf("%w: bad control frame", ErrProtocol)
			}
			p := c.ctl[:h.Length]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, fmt.Errorf("load: read control: %w", err)
			}
			switch h.OpCode {
			case ws.OpPing:
				if err := c.WriteMessage(ws.OpPong, p, true); err != nil {
					return 0, nil, err
				}
			case ws.OpClose:
				return 0, nil, c.peerClosed(p)
			}
			continue
		}
		switch {
		case h.OpCode == ws.OpContinuation && !mid:
			return 0, nil, fmt.Errorf("%w: continuation without a message", ErrProtocol)
		case h.OpCode != ws.OpContinuation && mid:
			return 0, nil, fmt.Errorf("%w: new message inside a fragmented one", ErrProtocol)
		case h.OpCode != ws.OpContinuation:
			op, n, mid = h.OpCode, 0, true
		}
		if int64(n)+h.Length > c.max {
			return 0, nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, c.max)
		}
		end := n + int(h.Length)
		if cap(c.msg) < end {
			grown := make([]byte, end, max(end, 2*cap(c.msg)))
			copy(grown, c.msg[:n])
			c.msg = grown
		}
		c.msg = c.msg[:end]
		if _, err := io.ReadFull(c.br, c.msg[n:end]); err != nil {
			return 0, nil, fmt.Errorf("load: read payload: %w", err)
		}
		n = end
		if h.Fin {
			return op, c.msg[:n], nil
		}
	}
}

// peerClosed answers a server's Close (unless this side sent one first)
// and reports it.
func (c *Conn) peerClosed(p []byte) error {
	ce := &CloseError{Code: ws.StatusNoStatusRcvd}
	if len(p) >= 2 {
		ce.Code = ws.StatusCode(binary.BigEndian.Uint16(p))
		ce.Reason = string(p[2:])
	}
	c.wmu.Lock()
	if !c.closeSent {
		c.closeSent = true
		if c.writeFrame(ws.OpClose, p[:min(len(p), 2)]) == nil {
			_ = c.flushLocked()
		}
	}
	c.wmu.Unlock()
	return ce
}

// Echo sends p as one binary message and checks the next message is the
// same bytes. The caller must be the only reader.
func (c *Conn) Echo(p []byte) error {
	if err := c.WriteMessage(ws.OpBinary, p, true); err != nil {
		return err
	}
	op, got, err := c.ReadMessage()
	if err != nil {
		return err
	}
	if op != ws.OpBinary || !bytes.Equal(got, p) {
		return fmt.Errorf("%w: %d bytes sent, %d back", ErrMismatch, len(p), len(got))
	}
	return nil
}

// StopReader wakes a goroutine blocked in ReadMessage: its read fails with
// a timeout, and Stopping reports true so that it can tell this wake-up from
// a broken connection.
func (c *Conn) StopReader() {
	c.closing.Store(true)
	_ = c.nc.SetReadDeadline(time.Now())
}

// Stopping reports whether StopReader was called.
func (c *Conn) Stopping() bool { return c.closing.Load() }

// Close runs the closing handshake (Close 1000, wait for the server's
// Close, bounded by timeout) and closes the connection. The caller must be
// the only reader. The connection is closed even when an error is returned.
func (c *Conn) Close(timeout time.Duration) error {
	defer c.nc.Close()
	if timeout <= 0 {
		timeout = DefaultCloseTimeout
	}
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("load: close: %w", err)
	}
	c.wmu.Lock()
	if c.closeSent {
		c.wmu.Unlock()
		return nil
	}
	c.closeSent = true
	var body [2]byte
	ws.PutCloseFrameBody(body[:], ws.StatusNormalClosure, "")
	err := c.writeFrame(ws.OpClose, body[:])
	if err == nil {
		err = c.flushLocked()
	}
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	// Read until the server's Close; data still in flight is discarded.
	for range maxCloseDrain {
		_, _, err := c.ReadMessage()
		if _, ok := errors.AsType[*CloseError](err); ok {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load: close: %w", err)
		}
	}
	return fmt.Errorf("%w: no Close after %d messages", ErrProtocol, maxCloseDrain)
}

// maxCloseDrain bounds the messages Close skips while waiting for the
// server's Close.
const maxCloseDrain = 1 << 20
