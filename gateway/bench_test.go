package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
	"github.com/weirproxy/weir/gateway/telemetry"
)

// replayConn serves the same block of client frames over and over, n
// frames in all, then EOF; writes are discarded. It isolates the frame
// engine's read-validate-write loop from the network for the benchmark.
type replayConn struct {
	block  []byte // whole frames
	per    int    // frames per block
	left   int    // frames still to serve
	off    int
	closed bool
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
func (c *replayConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *replayConn) Close() error                       { c.closed = true; return nil }
func (c *replayConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *replayConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *replayConn) SetDeadline(t time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(t time.Time) error { return nil }

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
