package plugins

import (
	"context"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins/pluginstest"
)

// Guests are C sources in this repository, compiled with clang at test time
// by pluginstest (CI installs the Debian packages clang and lld), once per
// test binary. Paths are relative to this package.
const (
	srcPassthrough = "../sdk/c/examples/passthrough.c"
	srcUppercase   = "../sdk/c/examples/uppercase.c"
	srcMisbehave   = "testdata/misbehave.c"
	srcHostcalls   = "testdata/hostcalls.c"
)

// buildC compiles a C guest of this package's tree with the command of
// sdk/c/README.md.
func buildC(tb testing.TB, src string) []byte {
	tb.Helper()
	return buildCWith(tb, src)
}

// buildCWith compiles with extra flags (e.g. -DNAME=1). src is absolute
// or relative to this package.
func buildCWith(tb testing.TB, src string, extra ...string) []byte {
	tb.Helper()
	if !filepath.IsAbs(src) {
		src = filepath.Join("plugins", src)
	}
	return pluginstest.C(tb, src, extra...)
}

func newTestHost(tb testing.TB, opts HostOptions) *Host {
	tb.Helper()
	h, err := NewHost(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func loadC(tb testing.TB, h *Host, src string, config string) *Plugin {
	tb.Helper()
	p, err := h.Load(context.Background(), filepath.Base(src), buildC(tb, src), []byte(config))
	if err != nil {
		tb.Fatalf("load %s: %v", src, err)
	}
	tb.Cleanup(func() { _ = p.Release(context.Background()) })
	return p
}

// sent is a message a filter injected.
type sent struct {
	dir     filters.Direction
	op      ws.OpCode
	payload string
}

// recorder is a filters.Sender that records what it is asked to do.
type recorder struct {
	mu      sync.Mutex
	sent    []sent
	closed  []uint16
	reason  []string
	sendErr error
}

func (r *recorder) Send(dir filters.Direction, op ws.OpCode, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sendErr != nil {
		return r.sendErr
	}
	r.sent = append(r.sent, sent{dir, op, string(payload)})
	return nil
}

func (r *recorder) CloseSession(code uint16, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = append(r.closed, code)
	r.reason = append(r.reason, reason)
}

func (r *recorder) closes() []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint16(nil), r.closed...)
}

func (r *recorder) sends() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.sent...)
}

// testSession is one session through one plugin filter.
type testSession struct {
	tb  testing.TB
	s   *filters.Session
	rec *recorder
	f   filters.Filter
}

func newSession(tb testing.TB, p *Plugin, headers map[string][]string) *testSession {
	tb.Helper()
	ts, err := tryNewSession(tb, p, headers)
	if err != nil {
		tb.Fatalf("NewFilter: %v", err)
	}
	return ts
}

// tryNewSession is newSession for goroutines other than the test's.
func tryNewSession(tb testing.TB, p *Plugin, headers map[string][]string) (*testSession, error) {
	rec := &recorder{}
	s := filters.NewSession(filters.Session{
		ID:      1,
		Route:   "chat",
		Remote:  netip.MustParseAddrPort("192.0.2.7:41000"),
		Host:    "chat.example.com",
		Path:    "/ws",
		Query:   "room=1",
		Headers: headers,
		Meta:    map[string]string{"tenant": "acme"},
	}, rec)
	f, err := p.NewFilter(context.Background(), s)
	if err != nil {
		return nil, err
	}
	return &testSession{tb: tb, s: s, rec: rec, f: f}, nil
}

func (ts *testSession) open() {
	ts.tb.Helper()
	ctx := context.Background()
	if err := ts.f.(filters.Handshaker).OnHandshake(ctx, ts.s); err != nil {
		ts.tb.Fatalf("OnHandshake: %v", err)
	}
	if err := ts.f.(filters.Opener).OnOpen(ctx, ts.s); err != nil {
		ts.tb.Fatalf("OnOpen: %v", err)
	}
}

// send runs one text message from the client through the filter.
func (ts *testSession) send(text string) (string, filters.Verdict, error) {
	m := &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Payload: []byte(text), Fin: true}
	v, err := ts.f.OnMessage(context.Background(), ts.s, m)
	return string(m.Payload), v, err
}

// must runs a text message that must be forwarded, and returns the output.
func (ts *testSession) must(text string) string {
	ts.tb.Helper()
	out, v, err := ts.send(text)
	if err != nil || v != filters.Continue {
		ts.tb.Fatalf("message %q: verdict %v, error %v", text, v, err)
	}
	return out
}

func (ts *testSession) close(code uint16) {
	ts.f.(filters.Closer).OnClose(context.Background(), ts.s, code)
}

func (ts *testSession) shard() int { return ts.f.(*filter).sh.idx }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func goroutines() int { return runtime.NumGoroutine() }

// waitGoroutines waits until no more goroutines run than base.
func waitGoroutines(tb testing.TB, base int) {
	tb.Helper()
	waitFor(tb, "goroutines back to the baseline", 10*time.Second, func() bool { return runtime.NumGoroutine() <= base })
}
