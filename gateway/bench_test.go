package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/internal/echo"
	"github.com/weirproxy/weir/gateway/internal/httphead"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
	"github.com/weirproxy/weir/gateway/telemetry"
)

// replayConn serves the same block of client frames over and over, n
// frames in all, then EOF; writes are discarded. It isolates the frame
// engine's read-validate-write loop from the network for the benchmark.
type replayConn struct {
	memConn
	block []byte // whole frames
	per   int    // frames per block
	left  int    // frames still to serve
	off   int
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.left <= 0 && c.off == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.block[c.off:])
	c.off += n
	if c.off == len(c.block) {
		c.off = 0
		c.left -= c.per
	}
	return n, nil
}
func (c *replayConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkFrameEngine measures the client→backend loop of the frame
// engine: read a masked client frame, validate it (UTF-8 for text),
// unmask, re-mask with weir's own key, batch and write. One op is one
// frame. The loop must not allocate in steady state.
//
//	go test -run='^$' -bench=FrameEngine -benchmem ./gateway/
func BenchmarkFrameEngine(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		for _, op := range []ws.OpCode{ws.OpBinary, ws.OpText} {
			name := map[ws.OpCode]string{ws.OpBinary: "binary", ws.OpText: "text"}[op]
			b.Run(name+"/"+sizeName(size), func(b *testing.B) { benchFrames(b, op, size) })
		}
	}
}

// BenchmarkFrameEngineFiltered is the same path in message mode: each
// message is reassembled and handed to a chain of one native filter that
// passes it, as a route with filters does. It must not allocate either.
func BenchmarkFrameEngineFiltered(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) { benchFramesWith(b, ws.OpBinary, size, true) })
	}
}

type passFilter struct{}

func (passFilter) OnMessage(context.Context, *filters.Session, *filters.Message) (filters.Verdict, error) {
	return filters.Continue, nil
}

type passFactory struct{}

func (passFactory) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return passFilter{}, nil
}

func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func benchFrames(b *testing.B, op ws.OpCode, size int) { benchFramesWith(b, op, size, false) }

func benchFramesWith(b *testing.B, op ws.OpCode, size int, filtered bool) {
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	per := max(1, (256<<10)/(size+14))
	var block []byte
	var key [4]byte
	for i := 0; i < per; i++ {
		key = [4]byte{1, 2, 3, byte(i)}
		block = wsproto.AppendFrame(block, op, true, payload, true, key)
	}
	src := &replayConn{block: block, per: per}
	p, err := newTestPump(src, &replayConn{}, filtered)
	if err != nil {
		b.Fatal(err)
	}

	// Warm up, then measure b.N frames.
	src.left = per
	if err := p.serve(false); !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
	src.left, src.off = b.N, 0
	p.br.Reset(src)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.serve(false); !errors.Is(err, io.EOF) {
		b.Fatal(err)
	}
}

// newTestPump builds a client→backend pump over src and dst, outside any
// server: the frame engine alone, with 1 MiB limits, and in message mode
// with one pass-through filter when filtered. The backend leg counts as a
// plain TCP socket, so large frames take the writev path.
func newTestPump(src, dst net.Conn, filtered bool) (*pump, error) {
	srv := &Server{metrics: telemetry.NewMetrics()}
	ss := &session{srv: srv, route: &route{maxMessage: 1 << 20, maxFrame: 1 << 20}, ctx: context.Background()}
	ss.client = newLeg("client", src, wsproto.ServerSide, false, time.Minute)
	ss.server = newLeg("backend", dst, wsproto.ClientSide, true, time.Minute)
	ss.server.vectored = true
	p := &pump{s: ss, src: ss.client, dst: ss.server, dir: filters.ClientToBackend}
	p.v.Init(wsproto.ServerSide, 1<<20, 1<<20)
	p.masks = new(wsproto.MaskSource)
	p.masks.Seed()
	p.frames = srv.metrics.FramesRelayed.With("c2b")
	p.bytes = srv.metrics.BytesRelayed.With("c2b")
	p.br = bufio.NewReaderSize(src, readerSize)
	p.w = new(workBuf)
	p.out = p.w.out[:0]
	if filtered {
		chain := filters.NewChain(filters.Entry{Name: "pass", Factory: passFactory{}, Dirs: filters.ClientToBackend})
		in, err := chain.New(context.Background(), filters.NewSession(filters.Session{ID: 1}, ss))
		if err != nil {
			return nil, err
		}
		ss.chain, p.filtered = in, true
	}
	return p, nil
}

// BenchmarkSessionCycle measures one whole session over loopback, as the
// load tool's connect-rate mode does: connect, upgrade through weir to the
// built-in echo backend, one message and its echo, close handshake, hang
// up. One op is one cycle, one at a time. Allocations are the whole
// process's: weir's and the echo backend's (the client's are fixed bytes),
// so the figure compares versions of weir, not weir against a peer.
//
//	go test -run='^$' -bench=SessionCycle -benchmem ./gateway/
func BenchmarkSessionCycle(b *testing.B) {
	for _, relay := range []string{"frames", "tunnel"} {
		b.Run(relay, func(b *testing.B) { benchCycle(b, relay) })
	}
}

func benchCycle(b *testing.B, relay string) {
	e, err := echo.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	addr := startBenchGateway(b, e.Addr().String(), relay)

	req := []byte(upgradeRequest("/ws"))
	msg := wsproto.AppendFrame(nil, ws.OpText, true, []byte("hi"), true, [4]byte{1, 2, 3, 4})
	bye := wsproto.AppendFrame(nil, ws.OpClose, true, []byte{0x03, 0xe8}, true, [4]byte{5, 6, 7, 8})
	buf := make([]byte, 4096)
	cycle := func() error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write(req); err != nil {
			return err
		}
		// The 101 and nothing after it: the client speaks first.
		n := 0
		for !bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) {
			m, err := c.Read(buf[n:])
			if err != nil {
				return err
			}
			n += m
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101 ")) {
			return fmt.Errorf("answer %q", buf[:n])
		}
		for _, f := range [][]byte{msg, bye} {
			if _, err := c.Write(f); err != nil {
				return err
			}
			// An unmasked frame of two payload bytes back.
			if _, err := io.ReadFull(c, buf[:4]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := cycle(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := cycle(); err != nil {
			b.Fatal(err)
		}
	}
}

// startBenchGateway runs a gateway with one route to backend in the given
// relay mode, logging nothing, until the benchmark ends; it returns the
// listener's address.
func startBenchGateway(b *testing.B, backend, relay string) string {
	srv := startServer(b, routeTo(backend, "    relay: "+relay+"\n"), Deps{Logger: slog.New(slog.DiscardHandler)})
	return srv.Addr("public").String()
}

// BenchmarkRelayEcho measures a live session in steady state: one 1 KiB
// message to the backend and one back, a round trip at a time over
// loopback. The backend reads what weir sends and answers with a fixed
// frame, allocating nothing, and so does the client: the allocations
// reported are the relay's own, and must be zero in both modes.
//
//	go test -run='^$' -bench=RelayEcho -benchmem ./gateway/
func BenchmarkRelayEcho(b *testing.B) {
	for _, relay := range []string{"frames", "tunnel"} {
		b.Run(relay, func(b *testing.B) { benchRelay(b, relay, 0) })
	}
	// A round trip after each pause longer than the linger: both pumps
	// park on the poller and are woken for every message, as on a session
	// that trickles (a chat, a ticker). Time per op is mostly the pause.
	for _, relay := range []string{"frames", "tunnel"} {
		b.Run(relay+"/woken", func(b *testing.B) { benchRelay(b, relay, 2*lingerTime) })
	}
}

func benchRelay(b *testing.B, relay string, pause time.Duration) {
	payload := bytes.Repeat([]byte("x"), 1<<10)
	// What weir relays toward the backend is the client's frame's size
	// either way: masked, with weir's key or the client's.
	sent := wsproto.AppendFrame(nil, ws.OpBinary, true, payload, true, [4]byte{1, 2, 3, 4})
	answer := wsproto.AppendFrame(nil, ws.OpBinary, true, payload, false, [4]byte{})
	be := startScripted(b, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		acceptUpgrade(c, req)
		_ = c.SetDeadline(time.Time{})
		in := make([]byte, len(sent))
		for {
			if _, err := io.ReadFull(br, in); err != nil {
				return
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	})
	c, err := net.Dial("tcp", startBenchGateway(b, be.addr(), relay))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute)) // a hung relay fails, not hangs
	if _, err := io.WriteString(c, upgradeRequest("/ws")); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := httphead.ReadResponse(br, httphead.Limits{MaxBytes: 64 << 10, MaxHeaders: 100})
	if err != nil || resp.Status != 101 {
		b.Fatalf("upgrade: %v %v", resp, err)
	}
	in := make([]byte, len(answer))
	roundTrip := func() {
		if _, err := c.Write(sent); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, in); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		roundTrip()
	}
	if !bytes.Equal(in, answer) {
		b.Fatal("the client did not get the backend's frame intact")
	}
	b.SetBytes(int64(2 * len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if pause > 0 {
			time.Sleep(pause) // the session's pace, not a wait for an event
		}
		roundTrip()
	}
}

// The frame engine's read-validate-write loop allocates nothing in steady
// state, at every size, binary and text, unfiltered and through a
// pass-through filter: BenchmarkFrameEngine's 0 allocs/op, kept by a test
// so that CI sees a regression (the loop runs in memory, with no other
// goroutine, so the count is exact).
func TestFrameEngineAllocs(t *testing.T) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		for _, op := range []ws.OpCode{ws.OpBinary, ws.OpText} {
			for _, filtered := range []bool{false, true} {
				kind := map[ws.OpCode]string{ws.OpBinary: "binary", ws.OpText: "text"}[op]
				name := fmt.Sprintf("%s/%s/filtered=%v", kind, sizeName(size), filtered)
				t.Run(name, func(t *testing.T) {
					payload := bytes.Repeat([]byte("é"), size/2)
					const per = 8
					var block []byte
					for i := range per {
						block = wsproto.AppendFrame(block, op, true, payload, true, [4]byte{1, 2, 3, byte(i)})
					}
					src := &replayConn{block: block, per: per, left: per}
					p, err := newTestPump(src, &replayConn{}, filtered)
					if err != nil {
						t.Fatal(err)
					}
					run := func() {
						src.left, src.off = per, 0
						p.br.Reset(src)
						if err := p.serve(false); !errors.Is(err, io.EOF) {
							t.Fatal(err)
						}
					}
					run() // warm up: buffers grow to their working size once
					if n := testing.AllocsPerRun(20, run); n != 0 {
						t.Fatalf("%v allocations per %d frames, want 0", n, per)
					}
				})
			}
		}
	}
}
