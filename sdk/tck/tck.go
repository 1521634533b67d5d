package tck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins"
)

// pluginName is the name every case loads the guest under (the property
// plugin.name, and the scope of its key/value space and metrics).
const pluginName = "tck"

// Defaults of a case's host. The call deadline is a second rather than the
// gateway's 10 ms: the cases check what guests compute, and a Go guest's
// first large allocation under the race detector takes tens of ms.
const (
	defaultShards      = 1
	defaultCallTimeout = time.Second
	// waitLimit bounds eventually; pollEvery is its pace.
	waitLimit = 10 * time.Second
	pollEvery = 5 * time.Millisecond
)

// Deviation is a case a guest is known to fail, with the reason: a limit
// of its language rather than a bug of its SDK. Run skips the case and
// prints the reason, so the deviation shows in every run.
type Deviation struct {
	Case, Reason string
}

// Run runs the kit against wasm, a module implementing the protocol of
// README.md: a coverage check, then every case, each as a subtest of t.
// Each case gets a fresh Host; the hosts share one compilation cache.
func Run(t *testing.T, wasm []byte, known ...Deviation) {
	t.Helper()
	run(t, wasm, t.TempDir(), known)
}

// run is Run with the directory of wazero's compilation cache, which the
// kit's own tests share between their targets: compiling a Go guest takes
// seconds under the race detector, loading it from the cache a fraction.
func run(t *testing.T, wasm []byte, cacheDir string, known []Deviation) {
	t.Helper()
	all := cases()
	skip := map[string]string{}
	for _, d := range known {
		if !slices.ContainsFunc(all, func(c tcase) bool { return c.name == d.Case }) || d.Reason == "" {
			t.Fatalf("deviation %+v: no such case, or no reason", d)
		}
		skip[d.Case] = d.Reason
	}
	t.Run("coverage", func(t *testing.T) { checkCoverage(t, wasm, cacheDir) })
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := skip[c.name]; ok {
				t.Skip("known deviation: " + why)
			}
			runCase(t, wasm, cacheDir, c)
		})
	}
}

// exemptHooks are ABI hooks a conforming guest may lack: _initialize
// exists only in WASI reactors (the Go guest has one, and its cases could
// not run without it).
func exemptHooks() []string { return []string{"_initialize"} }

// checkCoverage fails when the guest leaves out a host function or a hook.
func checkCoverage(t *testing.T, wasm []byte, cacheDir string) {
	ctx := t.Context()
	h, err := plugins.NewHost(ctx, plugins.HostOptions{CacheDir: cacheDir, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	p, err := h.Load(ctx, pluginName, wasm, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(context.Background())
	cov := p.Coverage()
	if len(cov.HostFunctions) == 0 || len(cov.Hooks) == 0 {
		t.Fatalf("the host reports no functions or hooks: %+v", cov)
	}
	for _, fn := range cov.HostFunctions {
		if !slices.Contains(cov.Imported, fn) {
			t.Errorf("the guest does not import weir_v1.%s: every host function needs a command or hook of the kit that calls it (sdk/tck/README.md)", fn)
		}
	}
	for _, hook := range cov.Hooks {
		if !slices.Contains(cov.Exported, hook) && !slices.Contains(exemptHooks(), hook) {
			t.Errorf("the guest does not export %s: every hook of the ABI needs a case that observes it", hook)
		}
	}
}

// tcase is one scenario: a host, the guest loaded with config, and steps
// run in order. A case whose load must fail sets loadErr and has no steps.
type tcase struct {
	name        string
	config      string
	shards      int
	callTimeout time.Duration
	memoryLimit uint64
	maxMessage  int
	loadErr     error
	steps       []step
}

// step is one input of a case with its expected outcome.
type step struct {
	desc string
	run  func(*env) error
}

func runCase(t *testing.T, wasm []byte, cacheDir string, c tcase) {
	ctx := t.Context()
	sink := &logSink{}
	opts := plugins.HostOptions{
		CacheDir:         cacheDir,
		Shards:           orDefault(c.shards, defaultShards),
		CallTimeout:      orDefault(c.callTimeout, defaultCallTimeout),
		MemoryLimitBytes: c.memoryLimit,
		MaxMessageBytes:  c.maxMessage,
		Logger:           slog.New(sink),
	}
	h, err := plugins.NewHost(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	p, err := h.Load(ctx, pluginName, wasm, []byte(c.config))
	if c.loadErr != nil {
		if !errors.Is(err, c.loadErr) {
			t.Fatalf("load: got %v, want %v", err, c.loadErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	e := &env{ctx: ctx, host: h, plugin: p, logs: sink, sessions: map[string]*session{}}
	defer e.finish(t)
	for i, st := range c.steps {
		if err := st.run(e); err != nil {
			t.Fatalf("step %d (%s): %v", i+1, st.desc, err)
		}
	}
	if err := e.leftovers(); err != nil {
		t.Fatal(err)
	}
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// env is what the steps of one case act on.
type env struct {
	ctx      context.Context
	host     *plugins.Host
	plugin   *plugins.Plugin
	logs     *logSink
	sessions map[string]*session
	order    []string // session names in creation order
}

// session is one session through the guest, named by the case.
type session struct {
	s      *filters.Session
	f      filters.Filter
	rec    *recorder
	closed bool
}

// finish closes the sessions a case left open (as the gateway would) and
// releases the plugin.
func (e *env) finish(t testing.TB) {
	for _, name := range e.order {
		if s := e.sessions[name]; !s.closed {
			s.f.(filters.Closer).OnClose(context.Background(), s.s, 1000)
		}
	}
	if err := e.plugin.Release(context.Background()); err != nil {
		t.Errorf("release: %v", err)
	}
}

// leftovers reports injected messages and closes no step expected: a case
// must account for every effect.
func (e *env) leftovers() error {
	var errs []error
	for _, name := range e.order {
		sent, closes := e.sessions[name].rec.pending()
		for _, m := range sent {
			errs = append(errs, fmt.Errorf("session %s: unexpected message %v", name, m))
		}
		for _, c := range closes {
			errs = append(errs, fmt.Errorf("session %s: unexpected close %d %q", name, c.Code, c.Reason))
		}
	}
	return errors.Join(errs...)
}

func (e *env) session(name string) (*session, error) {
	s := e.sessions[name]
	if s == nil {
		return nil, fmt.Errorf("no session %q: a step must create it first", name)
	}
	return s, nil
}

// newSession builds the filters.Session every case uses; headers are
// name, value pairs (a name given twice has two values).
func (e *env) newSession(name string, headers []string) (*session, error) {
	if _, dup := e.sessions[name]; dup {
		return nil, fmt.Errorf("session %q exists", name)
	}
	h := map[string][]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = append(h[headers[i]], headers[i+1])
	}
	rec := &recorder{}
	s := filters.NewSession(filters.Session{
		ID:          uint64(len(e.order) + 1),
		Route:       "chat",
		Remote:      netip.MustParseAddrPort("192.0.2.7:41000"),
		Host:        "chat.example.com",
		Path:        "/ws",
		Query:       "room=1",
		Headers:     h,
		Subprotocol: "chat.v1",
		Meta:        map[string]string{"tenant": "acme"},
	}, rec)
	f, err := e.plugin.NewFilter(e.ctx, s)
	if err != nil {
		return nil, fmt.Errorf("NewFilter: %w", err)
	}
	ss := &session{s: s, f: f, rec: rec}
	e.sessions[name] = ss
	e.order = append(e.order, name)
	return ss, nil
}

// injected is a message a guest sent with send_message.
type injected struct {
	Dir     filters.Direction
	Op      ws.OpCode
	Payload string
}

func (m injected) String() string {
	return fmt.Sprintf("%s op %d %q", m.Dir, m.Op, m.Payload)
}

// recorder is the session's filters.Sender: it records what the guest
// asked the gateway to do. Ticks call it from the ticker's goroutine.
type recorder struct {
	mu     sync.Mutex
	sent   []injected
	closes []filters.CloseError
}

func (r *recorder) Send(dir filters.Direction, op ws.OpCode, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, injected{dir, op, string(payload)})
	return nil
}

func (r *recorder) CloseSession(code uint16, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closes = append(r.closes, filters.CloseError{Code: code, Reason: reason})
}

// takeSent removes and returns the first recorded message.
func (r *recorder) takeSent() (injected, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sent) == 0 {
		return injected{}, false
	}
	m := r.sent[0]
	r.sent = r.sent[1:]
	return m, true
}

// takeClose removes and returns the first recorded close.
func (r *recorder) takeClose() (filters.CloseError, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.closes) == 0 {
		return filters.CloseError{}, false
	}
	c := r.closes[0]
	r.closes = r.closes[1:]
	return c, true
}

func (r *recorder) pending() ([]injected, []filters.CloseError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent), slices.Clone(r.closes)
}

// takeAll removes and returns everything recorded.
func (r *recorder) takeAll() ([]injected, []filters.CloseError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sent, closes := r.sent, r.closes
	r.sent, r.closes = nil, nil
	return sent, closes
}

// logRecord is one record the host logged.
type logRecord struct {
	level  slog.Level
	msg    string
	plugin string
}

// logSink is the hosts' slog handler: it keeps records at info and above,
// so that log_enabled(debug) is 0 and log_enabled(info) is 1.
type logSink struct {
	mu      sync.Mutex
	records []logRecord
}

func (l *logSink) handler(attrs []slog.Attr) slog.Handler { return &sinkHandler{l, attrs} }

type sinkHandler struct {
	sink  *logSink
	attrs []slog.Attr
}

func (h *sinkHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (h *sinkHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message}
	find := func(a slog.Attr) bool {
		if a.Key == "plugin" {
			rec.plugin = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		find(a)
	}
	r.Attrs(find)
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.records = append(h.sink.records, rec)
	return nil
}

func (h *sinkHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.sink.handler(append(slices.Clone(h.attrs), as...))
}

func (h *sinkHandler) WithGroup(string) slog.Handler { return h }

func (l *logSink) Enabled(ctx context.Context, level slog.Level) bool {
	return l.handler(nil).Enabled(ctx, level)
}

func (l *logSink) Handle(ctx context.Context, r slog.Record) error {
	return l.handler(nil).Handle(ctx, r)
}

func (l *logSink) WithAttrs(as []slog.Attr) slog.Handler { return l.handler(as) }

func (l *logSink) WithGroup(string) slog.Handler { return l }

func (l *logSink) find(level slog.Level, msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.records, func(r logRecord) bool {
		return r.level == level && r.msg == msg && r.plugin == pluginName
	})
}

// takeAll removes and returns every record.
func (l *logSink) takeAll() []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := l.records
	l.records = nil
	return rs
}

func (l *logSink) has(msg string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.records, func(r logRecord) bool { return r.msg == msg })
}

// ---- steps --------------------------------------------------------------

// open creates session name and runs its handshake and open hooks, which
// must succeed. headers are name, value pairs.
func open(name string, headers ...string) step {
	return step{desc: "open " + name, run: func(e *env) error {
		s, err := e.newSession(name, headers)
		if err != nil {
			return err
		}
		if err := s.f.(filters.Handshaker).OnHandshake(e.ctx, s.s); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		if err := s.f.(filters.Opener).OnOpen(e.ctx, s.s); err != nil {
			return fmt.Errorf("open: %w", err)
		}
		return nil
	}}
}

// create creates session name without running any hook, as for a session
// the gateway refused before the filter saw it.
func create(name string) step {
	return step{desc: "new " + name, run: func(e *env) error {
		_, err := e.newSession(name, nil)
		return err
	}}
}

// handshakeStep is a handshake whose outcome a case states.
type handshakeStep struct {
	name    string
	headers []string
}

// handshake creates session name and runs its handshake hook.
func handshake(name string, headers ...string) handshakeStep { return handshakeStep{name, headers} }

func (h handshakeStep) run(e *env) (*session, error) {
	s, err := e.newSession(h.name, h.headers)
	if err != nil {
		return nil, err
	}
	return s, s.f.(filters.Handshaker).OnHandshake(e.ctx, s.s)
}

// succeeds expects the handshake to pass.
func (h handshakeStep) succeeds() step {
	return step{desc: "handshake " + h.name, run: func(e *env) error {
		_, err := h.run(e)
		return err
	}}
}

// rejects expects the handshake to be refused with status and reason.
func (h handshakeStep) rejects(status int, reason string) step {
	return step{desc: fmt.Sprintf("handshake %s rejected %d", h.name, status), run: func(e *env) error {
		_, err := h.run(e)
		var rej *filters.RejectError
		if !errors.As(err, &rej) || rej.Status != status || rej.Reason != reason {
			return fmt.Errorf("got %v, want a rejection %d %q", err, status, reason)
		}
		return nil
	}}
}

// openStep is an open hook whose outcome a case states.
type openStep struct{ name string }

// openHook runs the open hook of session name (after Handshake).
func openHook(name string) openStep { return openStep{name} }

func (o openStep) run(e *env) error {
	s, err := e.session(o.name)
	if err != nil {
		return err
	}
	return s.f.(filters.Opener).OnOpen(e.ctx, s.s)
}

// closes expects the open hook to close the session with code and reason.
func (o openStep) closes(code uint16, reason string) step {
	return step{desc: "open " + o.name + " closes", run: func(e *env) error {
		return wantClose(o.run(e), code, reason)
	}}
}

// fails expects the open hook to fail with target (errors.Is).
func (o openStep) fails(target error) step {
	return step{desc: "open " + o.name + " fails", run: func(e *env) error {
		if err := o.run(e); !errors.Is(err, target) {
			return fmt.Errorf("got %v, want %v", err, target)
		}
		return nil
	}}
}

func wantClose(err error, code uint16, reason string) error {
	var ce *filters.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
		return fmt.Errorf("got %v, want a close %d %q", err, code, reason)
	}
	return nil
}

// end ends session name with code (weir_on_close, weir_on_session_end).
func end(name string, code uint16) step {
	return step{desc: fmt.Sprintf("close %s %d", name, code), run: func(e *env) error {
		s, err := e.session(name)
		if err != nil {
			return err
		}
		if s.closed {
			return fmt.Errorf("session %s closed twice", name)
		}
		s.closed = true
		s.f.(filters.Closer).OnClose(e.ctx, s.s, code)
		return nil
	}}
}

// messageStep is a message whose outcome a case states.
type messageStep struct {
	name string
	msg  filters.Message
	desc string
}

// send runs a whole text message from the client through session name.
func send(name, text string) messageStep {
	return messageStep{name: name, desc: fmt.Sprintf("%s: %.40q", name, text),
		msg: filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Payload: []byte(text), Fin: true}}
}

// sendFrame runs one message or frame with the given direction, opcode
// and FIN bit through session name.
func sendFrame(name string, dir filters.Direction, op ws.OpCode, fin bool, payload string) messageStep {
	return messageStep{name: name, desc: fmt.Sprintf("%s: %s op %d fin %t %.40q", name, dir, op, fin, payload),
		msg: filters.Message{Dir: dir, Op: op, Payload: []byte(payload), Fin: fin}}
}

func (m messageStep) run(e *env) (string, filters.Verdict, error) {
	s, err := e.session(m.name)
	if err != nil {
		return "", 0, err
	}
	msg := m.msg
	msg.Payload = bytes.Clone(m.msg.Payload)
	v, err := s.f.OnMessage(e.ctx, s.s, &msg)
	return string(msg.Payload), v, err
}

// outputs expects the message to be forwarded as want.
func (m messageStep) outputs(want string) step {
	return m.outputsFunc(fmt.Sprintf("%.40q", want), func(got string) error {
		if got != want {
			return fmt.Errorf("got %.80q, want %.80q", got, want)
		}
		return nil
	})
}

// outputsFunc expects the message to be forwarded with an output check
// accepts.
func (m messageStep) outputsFunc(what string, check func(string) error) step {
	return step{desc: m.desc + " → " + what, run: func(e *env) error {
		out, v, err := m.run(e)
		if err != nil || v != filters.Continue {
			return fmt.Errorf("verdict %v, error %v; want it forwarded", v, err)
		}
		return check(out)
	}}
}

// drops expects the message to be dropped.
func (m messageStep) drops() step {
	return step{desc: m.desc + " → dropped", run: func(e *env) error {
		if _, v, err := m.run(e); err != nil || v != filters.Drop {
			return fmt.Errorf("verdict %v, error %v; want it dropped", v, err)
		}
		return nil
	}}
}

// closes expects the message to close the session with code and reason.
func (m messageStep) closes(code uint16, reason string) step {
	return step{desc: fmt.Sprintf("%s → close %d", m.desc, code), run: func(e *env) error {
		_, v, err := m.run(e)
		if v != filters.Close {
			return fmt.Errorf("verdict %v (%v), want close", v, err)
		}
		return wantClose(err, code, reason)
	}}
}

// fails expects the hook to fail with target (errors.Is).
func (m messageStep) fails(target error) step {
	return step{desc: fmt.Sprintf("%s → %v", m.desc, target), run: func(e *env) error {
		if _, _, err := m.run(e); !errors.Is(err, target) {
			return fmt.Errorf("got %v, want %v", err, target)
		}
		return nil
	}}
}

// sent expects the next message the guest injected into session name.
func sent(name string, dir filters.Direction, op ws.OpCode, payload string) step {
	want := injected{dir, op, payload}
	return step{desc: fmt.Sprintf("%s got %v", name, want), run: func(e *env) error {
		s, err := e.session(name)
		if err != nil {
			return err
		}
		got, ok := s.rec.takeSent()
		if !ok || got != want {
			return fmt.Errorf("got %v (any: %t), want %v", got, ok, want)
		}
		return nil
	}}
}

// closed expects the next close the gateway was asked for on session name
// (by the guest for another session, a tick, a drain or a failed instance).
func closed(name string, code uint16, reason string) step {
	return step{desc: fmt.Sprintf("%s closed %d", name, code), run: func(e *env) error {
		s, err := e.session(name)
		if err != nil {
			return err
		}
		got, ok := s.rec.takeClose()
		if !ok || got.Code != code || got.Reason != reason {
			return fmt.Errorf("got %d %q (any: %t), want %d %q", got.Code, got.Reason, ok, code, reason)
		}
		return nil
	}}
}

// drain tells every session the plugin is being replaced, with deadline,
// and expects the guest to close n of them now.
func drain(deadline time.Duration, n int) step {
	return step{desc: fmt.Sprintf("drain %v", deadline), run: func(e *env) error {
		if got := e.plugin.Drain(e.ctx, deadline); got != n {
			return fmt.Errorf("closed %d sessions, want %d", got, n)
		}
		return nil
	}}
}

// eventually retries st until it succeeds, for effects of ticks.
func eventually(st step) step {
	return step{desc: "eventually " + st.desc, run: func(e *env) error {
		deadline := time.Now().Add(waitLimit)
		for {
			err := st.run(e)
			if err == nil {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("not within %v: %w", waitLimit, err)
			}
			time.Sleep(pollEvery)
		}
	}}
}

// metric expects the guest metric name to have kind, value and count
// (observations, for a histogram).
func metric(name string, kind plugins.MetricKind, value, count int64) step {
	return step{desc: "metric " + name, run: func(e *env) error {
		for _, m := range e.host.Metrics() {
			if m.Plugin == pluginName && m.Name == name {
				if m.Kind != kind || m.Value != value || m.Count != count {
					return fmt.Errorf("got %+v, want %v value %d count %d", m, kind, value, count)
				}
				return nil
			}
		}
		return fmt.Errorf("no metric %s in %+v", name, e.host.Metrics())
	}}
}

// logged expects a log record with level and msg, carrying the plugin's
// name.
func logged(level slog.Level, msg string) step {
	return step{desc: fmt.Sprintf("logged %s %q", level, msg), run: func(e *env) error {
		if !e.logs.find(level, msg) {
			return fmt.Errorf("no %s record %q of plugin %s", level, msg, pluginName)
		}
		return nil
	}}
}

// notLogged expects no record with msg.
func notLogged(msg string) step {
	return step{desc: fmt.Sprintf("not logged %q", msg), run: func(e *env) error {
		if e.logs.has(msg) {
			return fmt.Errorf("record %q was logged", msg)
		}
		return nil
	}}
}

// streaming expects the plugin to stream frames (enable_features(FRAMES)
// at init) or not.
func streaming(want bool) step {
	return step{desc: fmt.Sprintf("streaming %t", want), run: func(e *env) error {
		if got := e.plugin.Streaming(); got != want {
			return fmt.Errorf("Streaming() = %t", got)
		}
		return nil
	}}
}

// withPlugin runs a step that needs the plugin itself (its version, say).
func withPlugin(desc string, fn func(p *plugins.Plugin) step) step {
	return step{desc: desc, run: func(e *env) error { return fn(e.plugin).run(e) }}
}
