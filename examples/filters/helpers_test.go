package filters_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/filterstest"
	"github.com/weirproxy/weir/plugins"
	"github.com/weirproxy/weir/plugins/pluginstest"
)

// The example filters, built from source once per test binary.
func piiRedact(tb testing.TB) []byte {
	return pluginstest.C(tb, "examples/filters/pii-redact-c/filter.c")
}

func jsonAllowlist(tb testing.TB) []byte {
	return pluginstest.Rust(tb, "examples/filters/json-allowlist-rust", "")
}

func quota(tb testing.TB) []byte { return pluginstest.Go(tb, "examples/filters/quota-go") }

func tag(tb testing.TB) []byte {
	return pluginstest.AssemblyScript(tb, "examples/filters/tag-as/index.ts")
}

// cacheDir is wazero's compilation cache for every Host of the test
// binary. Each Load compiles its module unless the cache on disk has it;
// with it the Go filter (whose module carries the Go runtime) is compiled
// once instead of at every load, which under -race saves seconds a load.
var cacheDir string

func TestMain(m *testing.M) { os.Exit(pluginstest.MainWithCache(m, &cacheDir)) }

// logBuffer collects the host's and the guests' logs, so a test can check
// that a rejected config says what is wrong.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newHost is a Host with one shard, so that every session of a test meets
// the same instance (and so the same per-session tables), and a CPU bound
// per call far above what any message here needs: the tests check what the
// filters do, not how fast a loaded machine runs them.
func newHost(tb testing.TB) (*plugins.Host, *logBuffer) {
	tb.Helper()
	logs := &logBuffer{}
	h, err := plugins.NewHost(context.Background(), plugins.HostOptions{
		CacheDir:    cacheDir,
		Shards:      1,
		CallTimeout: time.Second,
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(context.Background()) })
	return h, logs
}

func load(tb testing.TB, h *plugins.Host, wasm []byte, config string) *plugins.Plugin {
	tb.Helper()
	p, err := h.Load(context.Background(), "example", wasm, []byte(config))
	if err != nil {
		tb.Fatalf("load with config %s: %v", config, err)
	}
	tb.Cleanup(func() { _ = p.Release(context.Background()) })
	return p
}

// badConfigs checks that each config fails the load with ErrInitFailed
// and that the filter logged a line containing the given words.
func badConfigs(t *testing.T, wasm []byte, cases map[string]string) {
	t.Helper()
	h, logs := newHost(t)
	for config, words := range cases {
		before := len(logs.String())
		p, err := h.Load(context.Background(), "example", wasm, []byte(config))
		if err == nil {
			_ = p.Release(context.Background())
			t.Errorf("config %s: loaded, want an error", config)
			continue
		}
		if !errors.Is(err, plugins.ErrInitFailed) {
			t.Errorf("config %s: %v, want ErrInitFailed", config, err)
		}
		if got := logs.String()[before:]; !strings.Contains(got, words) {
			t.Errorf("config %s: log %q does not say %q", config, got, words)
		}
	}
}

// session is one session through one filter, driven hook by hook as the
// gateway would.
type session struct {
	tb testing.TB
	s  *filters.Session
	f  filters.Filter
}

// open starts a session with the given request headers (lower-case names)
// and runs the handshake and open hooks; a rejected handshake is returned
// as the error, after the session was ended.
func open(tb testing.TB, p *plugins.Plugin, headers map[string][]string) (*session, error) {
	tb.Helper()
	s := filters.NewSession(filters.Session{
		ID:      1,
		Route:   "example",
		Remote:  netip.MustParseAddrPort("192.0.2.7:41000"),
		Host:    "chat.example.com",
		Path:    "/ws",
		Headers: headers,
	}, &filterstest.Recorder{})
	f, err := p.NewFilter(context.Background(), s)
	if err != nil {
		tb.Fatalf("NewFilter: %v", err)
	}
	ss := &session{tb: tb, s: s, f: f}
	ctx := context.Background()
	if err := f.(filters.Handshaker).OnHandshake(ctx, s); err != nil {
		ss.end(1011)
		return nil, err
	}
	if err := f.(filters.Opener).OnOpen(ctx, s); err != nil {
		ss.end(1011)
		return nil, err
	}
	tb.Cleanup(func() { ss.end(1000) })
	return ss, nil
}

func mustOpen(tb testing.TB, p *plugins.Plugin, headers map[string][]string) *session {
	tb.Helper()
	s, err := open(tb, p, headers)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return s
}

// outcome is what the filter did with one message.
type outcome struct {
	verdict filters.Verdict
	out     string
	close   *filters.CloseError // set when the filter closed the session
	err     error
}

func (o outcome) String() string {
	switch {
	case o.close != nil:
		return fmt.Sprintf("close %d %s", o.close.Code, o.close.Reason)
	case o.err != nil:
		return "error " + o.err.Error()
	case o.verdict == filters.Drop:
		return "drop"
	case o.verdict == filters.Continue:
		return "forward " + o.out
	}
	return o.verdict.String()
}

func (s *session) message(dir filters.Direction, op ws.OpCode, payload string) outcome {
	m := &filters.Message{Dir: dir, Op: op, Payload: []byte(payload), Fin: true}
	v, err := s.f.OnMessage(context.Background(), s.s, m)
	o := outcome{verdict: v, out: string(m.Payload), err: err}
	var ce *filters.CloseError
	if errors.As(err, &ce) {
		o.close, o.err = ce, nil
	}
	return o
}

// client sends a text message from the client.
func (s *session) client(text string) outcome {
	return s.message(filters.ClientToBackend, ws.OpText, text)
}

// forward requires the message to be forwarded and returns what was.
func (s *session) forward(text string) string {
	s.tb.Helper()
	o := s.client(text)
	if o.err != nil || o.close != nil || o.verdict != filters.Continue {
		s.tb.Fatalf("message %q: %v, want it forwarded", text, o)
	}
	return o.out
}

// closed requires the message to close the session with code and reason.
func (s *session) closed(text string, code uint16, reason string) {
	s.tb.Helper()
	o := s.client(text)
	if o.close == nil || o.close.Code != code || o.close.Reason != reason {
		s.tb.Fatalf("message %q: %v, want close %d %q", text, o, code, reason)
	}
}

func (s *session) end(code uint16) {
	if s.f != nil {
		s.f.(filters.Closer).OnClose(context.Background(), s.s, code)
		s.f = nil
	}
}

// metric returns the value of the example's metric name (0 if undefined).
func metric(h *plugins.Host, name string) int64 {
	for _, m := range h.Metrics() {
		if m.Plugin == "example" && m.Name == name {
			return m.Value
		}
	}
	return 0
}

// pollUntil calls cond every few milliseconds until it reports true, for at
// most limit; it reports whether cond ever did.
func pollUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}
