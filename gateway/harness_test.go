package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/native"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/internal/echo"
	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// pollModes runs a test with idle sessions parked on the poller and with a
// goroutine per direction: both engines must behave the same.
func pollModes(t *testing.T, f func(t *testing.T, noPoll bool)) {
	for _, noPoll := range []bool{false, true} {
		name := "poller"
		if noPoll {
			name = "goroutines"
		}
		t.Run(name, func(t *testing.T) { f(t, noPoll) })
	}
}

type harness struct {
	t    *testing.T
	srv  *Server
	addr string
}

// startGateway runs a gateway with the YAML configuration (listener
// "public" on port 0 is added when absent) and stops it, checking for
// leaks, when the test ends.
func startGateway(t *testing.T, yaml string, noPoll bool) *harness {
	t.Helper()
	return startGatewayWith(t, yaml, noPoll)
}

// startGatewayWith is startGateway with more native filters registered
// beside the built-in ones.
func startGatewayWith(t *testing.T, yaml string, noPoll bool, more ...filters.Info) *harness {
	t.Helper()
	base := leakBaseline()
	// Cleanups run last first: this one after startServer's shutdown.
	t.Cleanup(func() { base.check(t) })
	srv := startServer(t, yaml, Deps{DisablePoller: noPoll}, more...)
	return &harness{t: t, srv: srv, addr: srv.Addr("public").String()}
}

// startServer builds a gateway from the YAML configuration (listener
// "public" on port 0 and no admin API when it names no listeners) with
// deps, the built-in native filters and more, starts it, and shuts it down
// when the test or benchmark ends.
func startServer(tb testing.TB, yaml string, deps Deps, more ...filters.Info) *Server {
	tb.Helper()
	if !strings.Contains(yaml, "listeners:") {
		yaml = "listeners: [{name: public, address: 127.0.0.1:0}]\nadmin: {address: \"\"}\n" + yaml
	}
	cfg, err := config.Load(config.LoadOptions{Data: []byte(yaml)})
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	if deps.Filters, err = filters.NewRegistry(append(native.All(), more...)...); err != nil {
		tb.Fatal(err)
	}
	srv, err := New(context.Background(), cfg, deps)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return srv
}

// leaks: goroutine and descriptor counts must come back to where a test
// started.
type leaks struct{ goroutines, fds int }

func leakBaseline() leaks { return leaks{runtime.NumGoroutine(), countFDs()} }

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

func (b leaks) check(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), countFDs()
		if g <= b.goroutines && f <= b.fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Errorf("leak: goroutines %d (baseline %d), fds %d (baseline %d)\n%s", g, b.goroutines, f, b.fds, buf[:n])
			return
		}
		// Go keeps splice pipes in a sync.Pool closed by finalizers: give
		// the collector a chance before calling a descriptor leaked.
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // polling for a condition, bounded by the deadline
	}
}

func startEcho(t *testing.T) string {
	t.Helper()
	e, err := echo.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e.Addr().String()
}

// rawClient speaks the protocol byte by byte, to send what a well-behaved
// library never would.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

const sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

func upgradeRequest(path string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: weir.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", path, sampleKey)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawClient) response() *httphead.Response {
	rc.t.Helper()
	resp, err := httphead.ReadResponse(rc.br, httphead.Limits{MaxBytes: 64 << 10, MaxHeaders: 100})
	if err != nil {
		rc.t.Fatalf("reading response: %v", err)
	}
	return resp
}

// upgrade performs a valid handshake and fails the test unless it gets 101.
func (rc *rawClient) upgrade(path string, extra ...string) *httphead.Response {
	rc.t.Helper()
	rc.send(upgradeRequest(path, extra...))
	resp := rc.response()
	if resp.Status != 101 {
		rc.t.Fatalf("status %d, want 101", resp.Status)
	}
	return resp
}

// frame writes one client frame, masked unless told otherwise.
func (rc *rawClient) frame(op ws.OpCode, fin bool, payload []byte) {
	rc.t.Helper()
	rc.frameOpts(op, fin, payload, true, 0)
}

func (rc *rawClient) frameOpts(op ws.OpCode, fin bool, payload []byte, mask bool, rsv byte) {
	rc.t.Helper()
	f := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	f.Header.Rsv = rsv
	if mask {
		f = ws.MaskFrameInPlace(f)
	}
	if err := ws.WriteFrame(rc.c, f); err != nil {
		rc.t.Fatalf("write frame: %v", err)
	}
}

// readFrame reads one frame from weir; it must be unmasked.
func (rc *rawClient) readFrame() ws.Frame {
	rc.t.Helper()
	f, err := ws.ReadFrame(rc.br)
	if err != nil {
		rc.t.Fatalf("read frame: %v", err)
	}
	if f.Header.Masked {
		rc.t.Fatal("weir sent a masked frame to a client")
	}
	return f
}

// readMessage reads frames until a whole data message arrived, answering
// nothing; control frames other than close are skipped.
func (rc *rawClient) readMessage() (ws.OpCode, []byte) {
	rc.t.Helper()
	var op ws.OpCode
	var msg []byte
	for {
		f := rc.readFrame()
		switch f.Header.OpCode {
		case ws.OpPing, ws.OpPong:
			continue
		case ws.OpClose:
			code, reason := closeOf(f)
			rc.t.Fatalf("got close %d %q while reading a message", code, reason)
		case ws.OpContinuation:
		default:
			op = f.Header.OpCode
		}
		msg = append(msg, f.Payload...)
		if f.Header.Fin {
			return op, msg
		}
	}
}

// expectClose reads until a close frame and returns its code and reason;
// data frames on the way are skipped.
func (rc *rawClient) expectClose() (ws.StatusCode, string) {
	rc.t.Helper()
	for i := 0; i < 10000; i++ {
		f, err := ws.ReadFrame(rc.br)
		if err != nil {
			rc.t.Fatalf("waiting for close: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			return closeOf(f)
		}
	}
	rc.t.Fatal("no close frame")
	return 0, ""
}

// expectEOF asserts weir closes the TCP connection.
func (rc *rawClient) expectEOF() {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < 1<<16; i++ {
		if _, err := rc.br.ReadByte(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				rc.t.Fatal("connection not closed by weir")
			}
			return
		}
	}
	rc.t.Fatal("connection kept sending")
}

func closeOf(f ws.Frame) (ws.StatusCode, string) {
	if len(f.Payload) < 2 {
		return ws.StatusNoStatusRcvd, ""
	}
	return ws.StatusCode(binary.BigEndian.Uint16(f.Payload)), string(f.Payload[2:])
}

func closePayload(code ws.StatusCode, reason string) []byte {
	return ws.NewCloseFrameBody(code, reason)
}

// scriptedBackend accepts connections and hands each to fn with the parsed
// upgrade request; it records every byte it receives after fn's answer.
type scriptedBackend struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	requests []*httphead.Request
	conns    int
}

func startScripted(t testing.TB, fn func(c net.Conn, br *bufio.Reader, req *httphead.Request)) *scriptedBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &scriptedBackend{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns++
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				req, err := httphead.ReadRequest(br, httphead.Limits{MaxBytes: 64 << 10, MaxHeaders: 100})
				if err != nil {
					return
				}
				b.mu.Lock()
				b.requests = append(b.requests, req)
				b.mu.Unlock()
				fn(c, br, req)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *scriptedBackend) addr() string { return b.ln.Addr().String() }

func (b *scriptedBackend) connCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns
}

func (b *scriptedBackend) lastRequest() *httphead.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		return nil
	}
	return b.requests[len(b.requests)-1]
}

func routeTo(backend string, extra string) string {
	return fmt.Sprintf(`routes:
  - name: ws
    match: {path_prefix: /}
    backends: {members: [{address: %q}]}
%s`, backend, extra)
}

// onlySession returns the server's one live session.
func (h *harness) onlySession(t *testing.T) *session {
	t.Helper()
	h.srv.sessMu.Lock()
	defer h.srv.sessMu.Unlock()
	if len(h.srv.sessions) != 1 {
		t.Fatalf("%d live sessions, want 1", len(h.srv.sessions))
	}
	for _, ss := range h.srv.sessions {
		return ss
	}
	return nil
}

// startRecorder runs a backend for one connection: it accepts the upgrade
// and passes every frame it receives, unmasked and Close included, to the
// channel, which closes when the connection ends. It answers a Close with
// the same Close.
func startRecorder(t *testing.T) (*scriptedBackend, <-chan ws.Frame) {
	t.Helper()
	frames := make(chan ws.Frame, 64)
	b := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		defer close(frames)
		acceptUpgrade(c, req)
		for {
			f, err := ws.ReadFrame(br)
			if err != nil {
				return
			}
			f = ws.UnmaskFrameInPlace(f)
			frames <- f
			if f.Header.OpCode == ws.OpClose {
				_ = writeServerFrame(c, ws.OpClose, true, f.Payload)
				return
			}
		}
	})
	return b, frames
}
