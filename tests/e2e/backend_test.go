package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// ctlPath ends the backend paths whose text messages are commands instead
// of echoes:
//
//	close CODE REASON   the backend closes the session with CODE and REASON
//	drop                the backend closes its TCP connection, no Close frame
const ctlPath = "/ctl"

// sessionEnd is how one backend session ended: the Close the backend got
// from weir, or the one it sent itself (Sent).
type sessionEnd struct {
	Path   string
	Code   websocket.StatusCode // -1: no Close frame
	Reason string
	Sent   bool
}

// goBackend is an echo backend written with coder/websocket, a library weir
// does not use, on 127.0.0.1 port 0. Every session echoes each message with
// its type, streaming it back in 32 KiB writes (so the backend leg carries a
// fragmentation of its own), and the backend records how each session ended.
// A recording backend (startRecBackend) echoes whole messages instead and
// also records each one, for tests about content rather than framing.
type goBackend struct {
	t    testing.TB
	ln   net.Listener
	srv  *http.Server
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup // one per session handler

	record bool // set before serving starts

	mu       sync.Mutex
	hijacked map[string]net.Conn // by remote address, for drop and Close
	msgs     []received          // when record is set
	ends     []sessionEnd
	changed  chan struct{} // closed and replaced when msgs or ends grow
	closed   bool          // set by the cleanup; no handler starts after
}

// received is one message a recording backend got.
type received struct {
	Path string
	Type websocket.MessageType
	Data string
}

// startBackend starts a goBackend that stops when the test ends.
func startBackend(t testing.TB) *goBackend { t.Helper(); return startBackendWith(t, false) }

// startRecBackend starts a recording goBackend that stops when the test
// ends.
func startRecBackend(t testing.TB) *goBackend { t.Helper(); return startBackendWith(t, true) }

func startBackendWith(t testing.TB, record bool) *goBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &goBackend{t: t, ln: ln, record: record, hijacked: map[string]net.Conn{}, changed: make(chan struct{})}
	b.ctx, b.stop = context.WithCancel(context.Background())
	b.srv = &http.Server{
		Handler:           http.HandlerFunc(b.serve),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateHijacked {
				b.mu.Lock()
				b.hijacked[c.RemoteAddr().String()] = c
				b.mu.Unlock()
			}
		},
	}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = b.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		b.stop()
		_ = b.srv.Close()
		<-serveDone
		b.mu.Lock()
		b.closed = true
		for _, c := range b.hijacked {
			_ = c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// Addr is host:port for a config's backends.members.
func (b *goBackend) Addr() string { return b.ln.Addr().String() }

func (b *goBackend) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		http.Error(w, "backend stopped", http.StatusServiceUnavailable)
		return
	}
	b.wg.Add(1) // under mu, so it never races the cleanup's Wait
	b.mu.Unlock()
	defer b.wg.Done()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// weir forwards the client's Origin; the backend trusts weir.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return
	}
	defer func() {
		_ = c.CloseNow()
		b.mu.Lock()
		delete(b.hijacked, r.RemoteAddr)
		b.mu.Unlock()
	}()
	c.SetReadLimit(maxTestMessage + 1<<20)
	end := sessionEnd{Path: r.URL.Path, Code: -1}
	switch {
	case strings.HasSuffix(r.URL.Path, ctlPath):
		end = b.control(c, r, end)
	case b.record:
		end = b.recordEcho(c, r.URL.Path, end)
	default:
		end = b.echo(c, end)
	}
	b.note(func() { b.ends = append(b.ends, end) })
}

// note changes what the backend recorded and wakes its waiters.
func (b *goBackend) note(add func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	add()
	close(b.changed)
	b.changed = make(chan struct{})
}

// recordEcho records every message and echoes it whole.
func (b *goBackend) recordEcho(c *websocket.Conn, path string, end sessionEnd) sessionEnd {
	for {
		typ, data, err := c.Read(b.ctx)
		if err != nil {
			return endFrom(end, err)
		}
		b.note(func() { b.msgs = append(b.msgs, received{path, typ, string(data)}) })
		if err := c.Write(b.ctx, typ, data); err != nil {
			return endFrom(end, err)
		}
	}
}

// echo streams every message back until the session ends.
func (b *goBackend) echo(c *websocket.Conn, end sessionEnd) sessionEnd {
	buf := make([]byte, 32<<10)
	for {
		typ, rd, err := c.Reader(b.ctx)
		if err != nil {
			return endFrom(end, err)
		}
		wr, err := c.Writer(b.ctx, typ)
		if err != nil {
			return endFrom(end, err)
		}
		if _, err := io.CopyBuffer(wr, rd, buf); err != nil {
			return endFrom(end, err)
		}
		if err := wr.Close(); err != nil {
			return endFrom(end, err)
		}
	}
}

// control runs the commands of ctlPath.
func (b *goBackend) control(c *websocket.Conn, r *http.Request, end sessionEnd) sessionEnd {
	for {
		_, msg, err := c.Read(b.ctx)
		if err != nil {
			return endFrom(end, err)
		}
		f := strings.SplitN(string(msg), " ", 3)
		switch {
		case f[0] == "close" && len(f) == 3:
			code, err := strconv.Atoi(f[1])
			if err != nil {
				return endFrom(end, err)
			}
			end.Code, end.Reason, end.Sent = websocket.StatusCode(code), f[2], true
			// Close waits for weir's Close in reply, bounded by the
			// library (5 s).
			_ = c.Close(websocket.StatusCode(code), f[2])
			return end
		case f[0] == "drop":
			b.mu.Lock()
			nc := b.hijacked[r.RemoteAddr]
			b.mu.Unlock()
			if nc != nil {
				_ = nc.Close()
			}
			end.Sent = true
			return end
		}
	}
}

// endFrom records the Close the backend received, if err carries one.
func endFrom(end sessionEnd, err error) sessionEnd {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		end.Code, end.Reason = ce.Code, ce.Reason
	}
	return end
}

// waitEnds waits until at least n sessions have ended and returns them all.
func (b *goBackend) waitEnds(n int) []sessionEnd {
	b.t.Helper()
	var got []sessionEnd
	b.waitFor(fmt.Sprintf("%d session ends", n), func(_ []received, ends []sessionEnd) bool {
		got = ends
		return len(ends) >= n
	})
	return got
}

// waitFor waits until cond holds for the messages and session ends so far.
func (b *goBackend) waitFor(what string, cond func(msgs []received, ends []sessionEnd) bool) {
	b.t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		msgs := append([]received(nil), b.msgs...)
		ends := append([]sessionEnd(nil), b.ends...)
		changed := b.changed
		b.mu.Unlock()
		if cond(msgs, ends) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			b.t.Fatalf("backend: no %s within %v; received %+v, ended %+v", what, eventTimeout, msgs, ends)
		}
	}
}
