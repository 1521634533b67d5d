package load

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/tests/bench/internal/echo"
)

// recordingListener remembers the source address of every accepted
// connection.
type recordingListener struct {
	net.Listener
	mu   sync.Mutex
	from map[string]int
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		l.from[host]++
		l.mu.Unlock()
	}
	return c, err
}

func (l *recordingListener) sources() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.from))
	for k, v := range l.from {
		out[k] = v
	}
	return out
}

// startEcho serves the bench's echo backend on 127.0.0.1 port 0.
func startEcho(t testing.TB) (string, *recordingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingListener{Listener: ln, from: map[string]int{}}
	srv := &echo.Server{}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(rl) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, echo.ErrServerClosed) {
			t.Errorf("echo server: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/bench", rl
}

// startFaulty serves an echo that passes frame as-is through change before
// echoing it, so that tests can prove the load tool notices.
func startFaulty(t *testing.T, change func(seq int, p []byte) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				// Bound the whole session: the test's run is short.
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := ws.Upgrade(c); err != nil {
					return
				}
				br := bufio.NewReader(c)
				for seq := 0; ; seq++ {
					f, err := ws.ReadFrame(br)
					if err != nil {
						return
					}
					f = ws.UnmaskFrameInPlace(f)
					if f.Header.OpCode == ws.OpClose {
						_ = ws.WriteFrame(c, ws.NewCloseFrame(f.Payload))
						return
					}
					p := change(seq, f.Payload)
					if p == nil {
						continue
					}
					if err := ws.WriteFrame(c, ws.NewFrame(f.Header.OpCode, true, p)); err != nil {
						return
					}
				}
			})
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestThroughput(t *testing.T) {
	url, _ := startEcho(t)
	for _, tc := range []struct {
		name                string
		conns, window, size int
	}{
		{"tiny", 2, 4, 1},
		{"64B", 4, 16, 64},
		{"1KiB", 2, 8, 1024},
		// Larger than the write buffer: the masking path works in chunks.
		{"100KiB", 2, 2, 100 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Throughput(testCtx(t), ThroughputConfig{
				Dialer: &Dialer{URL: url}, Conns: tc.conns, Window: tc.window, Size: tc.size,
				Duration: 150 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 {
				t.Fatalf("errors = %d (first: %s)", res.Errors, res.FirstError)
			}
			if res.Messages <= 0 || res.MessagesTotal < res.Messages || res.MsgsPerS <= 0 {
				t.Fatalf("messages = %d, total %d, rate %f", res.Messages, res.MessagesTotal, res.MsgsPerS)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	url, _ := startEcho(t)
	res, err := Latency(testCtx(t), LatencyConfig{
		Dialer: &Dialer{URL: url}, Rate: 2000, Conns: 4, Size: 256,
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("errors = %d (first: %s)", res.Errors, res.FirstError)
	}
	// 2000/s for 0.3 s over 4 sessions is 150 each: the schedule is exact.
	if res.Sent != 600 || res.Received != res.Sent {
		t.Fatalf("sent %d, received %d; want 600 both", res.Sent, res.Received)
	}
	if res.Samples != 500 {
		t.Fatalf("samples = %d; want 500 (the warm-up's 100 left out)", res.Samples)
	}
	if !(0 < res.P50US && res.P50US <= res.P90US && res.P90US <= res.P99US &&
		res.P99US <= res.P999US && res.P999US <= res.MaxUS) {
		t.Fatalf("percentiles out of order: %+v", res.Percentiles)
	}
}

func TestConnect(t *testing.T) {
	url, _ := startEcho(t)
	res, err := Connect(testCtx(t), ConnectConfig{
		Dialer: &Dialer{URL: url}, Workers: 2, Size: 64, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("errors = %d (first: %s)", res.Errors, res.FirstError)
	}
	if res.Handshakes <= 0 || res.CycleP50US <= 0 {
		t.Fatalf("handshakes = %d, p50 %f", res.Handshakes, res.CycleP50US)
	}
}

func TestIdle(t *testing.T) {
	url, rl := startEcho(t)
	sources := []net.IP{net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3)}
	if c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: sources[1]}}).Dial("tcp", rl.Addr().String()); err != nil {
		t.Skipf("cannot bind %s here: %v", sources[1], err)
	} else {
		_ = c.Close()
	}
	release := make(chan struct{})
	var ready IdleReady
	res, err := Idle(testCtx(t), IdleConfig{
		Dialer: &Dialer{URL: url, Sources: sources}, Sessions: 40, Workers: 8, Size: 32,
		Hold: 10 * time.Second, Release: release,
		OnReady: func(r IdleReady) {
			ready = r
			close(release)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ready.Open != 40 || ready.Errors != 0 || ready.Sources != 2 {
		t.Fatalf("ready = %+v", ready)
	}
	if res.Open != 40 || res.Survived != 40 || res.Errors != 0 {
		t.Fatalf("result = %+v", res)
	}
	from := rl.sources()
	if from["127.0.0.2"] < 20 || from["127.0.0.3"] < 20 {
		t.Fatalf("sessions by source address = %v; want ≥ 20 from each of 127.0.0.2 and .3", from)
	}
}

func TestVerifiesEchoes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(seq int, p []byte) []byte
	}{
		{"corrupt byte", func(seq int, p []byte) []byte {
			if seq == 5 {
				p[len(p)/2] ^= 1
			}
			return p
		}},
		{"dropped", func(seq int, p []byte) []byte {
			if seq == 5 {
				return nil
			}
			return p
		}},
		{"truncated", func(seq int, p []byte) []byte { return p[:len(p)-1] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startFaulty(t, tc.change)
			res, err := Throughput(testCtx(t), ThroughputConfig{
				Dialer: &Dialer{URL: url}, Conns: 1, Window: 4, Size: 200,
				Duration: 100 * time.Millisecond, DrainTimeout: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mismatches == 0 || res.Messages > 5 {
				t.Fatalf("mismatches = %d, messages %d; want the fault caught at message 5", res.Mismatches, res.Messages)
			}
		})
	}
}

// TestReadMessageRejects feeds ReadMessage server frames that break RFC
// 6455.
func TestReadMessageRejects(t *testing.T) {
	frame := func(h ws.Header, p []byte) []byte {
		h.Length = int64(len(p))
		var b []byte
		bw := &sliceWriter{b: &b}
		_ = ws.WriteHeader(bw, h)
		return append(b, p...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"masked", frame(ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true}, []byte("x")), ErrProtocol},
		{"rsv", frame(ws.Header{Fin: true, OpCode: ws.OpBinary, Rsv: 4}, []byte("x")), ErrProtocol},
		{"reserved opcode", frame(ws.Header{Fin: true, OpCode: 3}, nil), ErrProtocol},
		{"lone continuation", frame(ws.Header{Fin: true, OpCode: ws.OpContinuation}, nil), ErrProtocol},
		{"fragmented ping", frame(ws.Header{OpCode: ws.OpPing}, nil), ErrProtocol},
		{"interleaved", append(frame(ws.Header{OpCode: ws.OpText}, []byte("a")),
			frame(ws.Header{Fin: true, OpCode: ws.OpText}, []byte("b"))...), ErrProtocol},
		{"too large", frame(ws.Header{Fin: true, OpCode: ws.OpBinary}, make([]byte, 65)), ErrTooLarge},
		{"truncated", frame(ws.Header{Fin: true, OpCode: ws.OpBinary}, []byte("abc"))[:3], io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConn(fakeConn{}, bytesReader(tc.in), 0, 0, 64)
			_, _, err := c.ReadMessage()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
		})
	}
	t.Run("close", func(t *testing.T) {
		body := ws.NewCloseFrameBody(ws.StatusGoingAway, "bye")
		c := newConn(fakeConn{}, bytesReader(frame(ws.Header{Fin: true, OpCode: ws.OpClose}, body)), 0, 0, 64)
		_, _, err := c.ReadMessage()
		ce, ok := errors.AsType[*CloseError](err)
		if !ok || ce.Code != ws.StatusGoingAway || ce.Reason != "bye" {
			t.Fatalf("err = %v; want CloseError 1001 bye", err)
		}
	})
	t.Run("fragments and ping", func(t *testing.T) {
		in := append(frame(ws.Header{OpCode: ws.OpBinary}, []byte("ab")),
			frame(ws.Header{Fin: true, OpCode: ws.OpPing}, []byte("p"))...)
		in = append(in, frame(ws.Header{Fin: true, OpCode: ws.OpContinuation}, []byte("cd"))...)
		c := newConn(fakeConn{}, bytesReader(in), 0, 0, 64)
		op, p, err := c.ReadMessage()
		if err != nil || op != ws.OpBinary || string(p) != "abcd" {
			t.Fatalf("got %v %q %v; want binary abcd", op, p, err)
		}
	})
}

// TestInteropServer checks this client against an independent server
// implementation, which rejects unmasked or malformed client frames.
func TestInteropServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	d := &Dialer{URL: "ws://" + ln.Addr().String() + "/", WriteBufferSize: 4096}
	c, err := d.Dial(testCtx(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.NetConn().SetDeadline(time.Now().Add(10 * time.Second))
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 300 << 10} {
		if err := c.Echo(newPattern(size, uint64(size)).stamp(7)); err != nil {
			t.Fatalf("echo %d bytes: %v", size, err)
		}
	}
	if err := c.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkEcho is one client round trip through the echo backend; both
// sides must stay at 0 allocs/op, or the load tool would spend the shared
// cores on garbage collection instead of load. On the 2-core dev machine:
//
//	BenchmarkEcho/64B    4390 ns/op    0 allocs/op
//	BenchmarkEcho/1KiB   4502 ns/op    0 allocs/op
//	BenchmarkEcho/64KiB 23065 ns/op    0 allocs/op
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 1024, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			url, _ := startEcho(b)
			c, err := (&Dialer{URL: url}).Dial(context.Background(), 0)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(time.Second)
			p := newPattern(size, 1).stamp(1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Echo(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
