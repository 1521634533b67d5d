package plugins

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

func TestPassThroughIntegrity(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2})
	p := loadC(t, h, srcPassthrough, "")
	ts := newSession(t, p, nil)
	ts.open()
	for _, size := range []int{0, 1, 125, 126, 1024, 4096, 65535, 65536, 300_000, 1 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			payload := make([]byte, size)
			_, _ = rand.Read(payload)
			want := sha256.Sum256(payload)
			for _, dir := range []filters.Direction{filters.ClientToBackend, filters.BackendToClient} {
				m := &filters.Message{Dir: dir, Op: ws.OpBinary, Payload: payload, Fin: true}
				v, err := ts.f.OnMessage(context.Background(), ts.s, m)
				if err != nil || v != filters.Continue {
					t.Fatalf("verdict %v, error %v", v, err)
				}
				if got := sha256.Sum256(m.Payload); got != want || len(m.Payload) != size {
					t.Fatalf("payload changed: %d bytes", len(m.Payload))
				}
			}
		})
	}
	ts.close(1000)
}

func TestUppercase(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2})
	p := loadC(t, h, srcUppercase, "")
	ts := newSession(t, p, nil)
	ts.open()
	for in, want := range map[string]string{
		"":                          "",
		"hello, world":              "HELLO, WORLD",
		"ünïcödé stays ok":          "üNïCöDé STAYS OK",
		strings.Repeat("ab", 40000): strings.Repeat("AB", 40000),
	} {
		if got := ts.must(in); got != want {
			t.Fatalf("%.20q: got %.20q", in, got)
		}
	}
	// Binary messages are untouched.
	m := &filters.Message{Dir: filters.BackendToClient, Op: ws.OpBinary, Payload: []byte("abc"), Fin: true}
	if _, err := ts.f.OnMessage(context.Background(), ts.s, m); err != nil || string(m.Payload) != "abc" {
		t.Fatalf("binary: %q %v", m.Payload, err)
	}
	ts.close(1000)
	var found bool
	for _, mv := range h.Metrics() {
		if mv.Name == "uppercase_messages" && mv.Kind == Counter && mv.Value == 4 {
			found = true
		}
	}
	if !found {
		t.Fatalf("metric uppercase_messages=4 missing: %+v", h.Metrics())
	}
}

func TestMeta(t *testing.T) {
	tests := []struct {
		dir       filters.Direction
		op        ws.OpCode
		fin, frst bool
		seq       uint32
		want      uint64
	}{
		{filters.ClientToBackend, ws.OpText, true, true, 7, 0x0000000700000062},
		{filters.BackendToClient, ws.OpBinary, true, true, 0, 0x0000000000000065},
		{filters.ClientToBackend, ws.OpText, false, true, 3, 0x0000000300000042},
		{filters.ClientToBackend, ws.OpContinuation, false, false, 4, 0x0000000400000000},
		{filters.ClientToBackend, ws.OpContinuation, true, false, 5, 0x0000000500000020},
	}
	for _, tt := range tests {
		if got := packMeta(tt.dir, tt.op, tt.fin, tt.frst, tt.seq); got != tt.want {
			t.Errorf("packMeta(%v) = %#x, want %#x", tt, got, tt.want)
		}
	}
	if got := packResult(actionContinue, 1024); got != 0x400 {
		t.Errorf("packResult = %#x", got)
	}
	if dir, op, ok := unpackSendMeta(0x65); !ok || dir != filters.BackendToClient || op != ws.OpBinary {
		t.Errorf("unpackSendMeta(0x65) = %v %v %v", dir, op, ok)
	}
	if _, _, ok := unpackSendMeta(0x80 | 0x62); ok {
		t.Error("reserved bit accepted")
	}
	if _, _, ok := unpackSendMeta(0x8 << 1); ok {
		t.Error("close opcode accepted")
	}
}

func TestHostCalls(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2, Logger: slog.New(slog.DiscardHandler)})
	p := loadC(t, h, srcHostcalls, `{"k":1}`)
	ts := newSession(t, p, map[string][]string{"x-user": {"ann"}, "accept": {"a", "b"}})
	ts.open()

	t.Run("properties", func(t *testing.T) {
		for key, want := range map[string]string{
			"prop request.path":          "/ws",
			"prop request.host":          "chat.example.com",
			"prop request.query":         "room=1",
			"prop request.header.x-user": "ann",
			"prop request.header.accept": "a, b",
			"prop request.header.nope":   "ERR 1",
			"prop source.address":        "192.0.2.7:41000",
			"prop route.name":            "chat",
			"prop session.subprotocol":   "ERR 1",
			"prop meta.tenant":           "acme",
			"prop plugin.name":           "hostcalls.c",
			"prop plugin.version":        p.Version(),
			"prop0 plugin.name":          "hostcalls.c",
			"prop0 request.path":         "ERR 1",
			"prop unknown.key":           "ERR 1",
			"config":                     `{"k":1}`,
		} {
			if got := ts.must(key); got != want {
				t.Errorf("%s: got %q, want %q", key, got, want)
			}
		}
	})

	t.Run("inject", func(t *testing.T) {
		if got := ts.must("inject pong"); got != "inject pong" {
			t.Fatalf("got %q", got)
		}
		_, v, err := ts.send("injectbin")
		if err != nil || v != filters.Drop {
			t.Fatalf("injectbin: %v %v", v, err)
		}
		got := ts.rec.sends()
		want := []sent{
			{filters.BackendToClient, ws.OpText, "pong"},
			{filters.ClientToBackend, ws.OpBinary, "\x01\x02\x03"},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sent %v, want %v", got, want)
		}
	})

	t.Run("drop", func(t *testing.T) {
		if _, v, err := ts.send("drop"); v != filters.Drop || err != nil {
			t.Fatalf("%v %v", v, err)
		}
	})

	t.Run("kv", func(t *testing.T) {
		steps := []struct{ in, want string }{
			{"kvget a", "ERR 1"},
			{"kvset a hello", "0"},
			{"kvget a", "1 5 hello"},
			{"kvcas a 7 nope", "8"},
			{"kvcas a 1 world", "0"},
			{"kvget a", "2 5 world"},
			{"kvcas b 1 x", "8"},
			{"incr n 5", "5"},
			{"incr n -7", "-2"},
			{"incr a 1", "-9223372036854775808"},
		}
		for _, s := range steps {
			if got := ts.must(s.in); got != s.want {
				t.Fatalf("%s: got %q, want %q", s.in, got, s.want)
			}
		}
		// Another version of the same plugin sees the data; another
		// plugin does not.
		p2, err := h.Load(context.Background(), "hostcalls.c", buildC(t, srcHostcalls), nil)
		if err != nil {
			t.Fatal(err)
		}
		ts2 := newSession(t, p2, nil)
		if got := ts2.must("kvget a"); got != "2 5 world" {
			t.Fatalf("same plugin, new version: %q", got)
		}
		ts2.close(1000)
		_ = p2.Release(context.Background())
		p3, err := h.Load(context.Background(), "other", buildC(t, srcHostcalls), nil)
		if err != nil {
			t.Fatal(err)
		}
		ts3 := newSession(t, p3, nil)
		if got := ts3.must("kvget a"); got != "ERR 1" {
			t.Fatalf("other plugin: %q", got)
		}
		ts3.close(1000)
		_ = p3.Release(context.Background())
	})

	t.Run("metrics", func(t *testing.T) {
		ts.must("count 3")
		ts.must("count 4")
		ts.must("count -9") // ignored by a counter
		ts.must("gauge 5")
		ts.must("gauge -8")
		got := map[string]int64{}
		for _, mv := range h.Metrics() {
			if mv.Plugin == "hostcalls.c" {
				got[mv.Name] = mv.Value
			}
		}
		if got["hostcalls_count"] != 7 || got["hostcalls_gauge"] != -3 {
			t.Fatalf("metrics %v", got)
		}
	})

	t.Run("misuse", func(t *testing.T) {
		for in, want := range map[string]string{
			"features":      "0", // enable_features outside weir_init changes nothing
			"reject":        "2", // reject outside the handshake
			"close 1005 no": "2", // a code that may not be sent
			"log hello":     "0", // debug is not enabled on this logger
		} {
			if got := ts.must(in); got != want {
				t.Errorf("%s: got %q, want %q", in, got, want)
			}
		}
	})

	t.Run("sessions", func(t *testing.T) {
		if got := ts.must("sessions"); got != "1" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("close_session", func(t *testing.T) {
		ts4 := newSession(t, p, nil)
		ts4.open()
		_, v, err := ts4.send("close 4001 bye")
		var ce *filters.CloseError
		if v != filters.Close || !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "bye" {
			t.Fatalf("verdict %v, error %v", v, err)
		}
		ts4.close(4001)
		if got := ts.must("kvget closed"); !strings.HasSuffix(got, " 4001 0") {
			t.Fatalf("weir_on_close after a close by the filter: %q", got)
		}
		ts5 := newSession(t, p, nil)
		ts5.open()
		_, v, err = ts5.send("closeaction")
		if v != filters.Close || !errors.As(err, &ce) || ce.Code != 1008 {
			t.Fatalf("closeaction: %v %v", v, err)
		}
		ts5.close(1008)
		ts6 := newSession(t, p, nil)
		ts6.open()
		ts6.close(1001)
		if got := ts.must("kvget closed"); !strings.HasSuffix(got, " 1001 1") {
			t.Fatalf("weir_on_close after a close by the peer: %q", got)
		}
		// A session that never opened gets no weir_on_close.
		ts7 := newSession(t, p, nil)
		ts7.close(1006)
		if got := ts.must("kvget closed"); !strings.HasSuffix(got, " 1001 1") {
			t.Fatalf("weir_on_close for a session that never opened: %q", got)
		}
	})
	ts.close(1000)
}

func TestHandshakeReject(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	p := loadC(t, h, srcHostcalls, "")
	for _, tt := range []struct {
		header string
		status int
		reason string
	}{
		{"x-reject", 451, "go away"},
		{"x-reject-bare", 403, "rejected by filter hostcalls.c"},
	} {
		ts := newSession(t, p, map[string][]string{tt.header: {"1"}})
		err := ts.f.(filters.Handshaker).OnHandshake(context.Background(), ts.s)
		var rej *filters.RejectError
		if !errors.As(err, &rej) || rej.Status != tt.status || rej.Reason != tt.reason {
			t.Fatalf("%s: %v", tt.header, err)
		}
		ts.close(1006)
	}
	ts := newSession(t, p, nil)
	ts.open()
	ts.close(1000)
}

// W-04: host functions validate every (ptr, len); bad output lengths and
// actions are errors, not panics.
func TestBadGuestArguments(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1, MaxMessageBytes: 100_000})
	p := loadC(t, h, srcHostcalls, "")
	ts := newSession(t, p, nil)
	ts.open()
	// get_config x2, get_property, send_message, close_session, kv_get,
	// kv_set, metric_define, kv_incr: all INVALID_MEMORY_ACCESS.
	if got := ts.must("badmem"); got != "-6 -6 -6 6 6 -6 6 -6 -6" {
		t.Fatalf("badmem: %q", got)
	}
	for _, tt := range []struct {
		in   string
		want error
	}{
		{"huge", ErrOutputTooLarge},
		{"grow 70000", ErrOutputTooLarge}, // over the 4 KiB buffer of a short message
		{"badaction", ErrBadResult},
	} {
		if _, _, err := ts.send(tt.in); !errors.Is(err, tt.want) {
			t.Fatalf("%s: %v, want %v", tt.in, err, tt.want)
		}
	}
	// An output over the message limit, from a buffer large enough for it.
	long := "grow 100000 " + strings.Repeat(" ", 99_000)
	if _, _, err := ts.send(long); !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("over the message limit: %v", err)
	}
	// An input over the limit is not passed in.
	if _, _, err := ts.send(strings.Repeat("x", 100_001)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("input over the limit: %v", err)
	}
	// None of this harmed the instance.
	if got := ts.must("sessions"); got != "1" {
		t.Fatalf("after errors: %q", got)
	}
	ts.close(1000)
}

func TestLongerOutputDoesNotTouchTheGatewayBuffer(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	p := loadC(t, h, srcHostcalls, "")
	ts := newSession(t, p, nil)
	backing := []byte("grow 20|GATEWAY-DATA")
	m := &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Payload: backing[:7], Fin: true}
	if _, err := ts.f.OnMessage(context.Background(), ts.s, m); err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != strings.Repeat("x", 21) || string(backing[7:]) != "|GATEWAY-DATA" {
		t.Fatalf("payload %q, backing %q", m.Payload, backing)
	}
	ts.close(1000)
}

func TestTick(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2})
	p := loadC(t, h, srcHostcalls, "tick")
	ts := newSession(t, p, nil)
	waitFor(t, "ticks on both shards", 10*time.Second, func() bool {
		n, err := strconv.Atoi(ts.must("incr ticks 0"))
		return err == nil && n >= 4
	})
	ts.close(1000)
}

func TestDrain(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	p := loadC(t, h, srcHostcalls, "")
	odd, even := newSession(t, p, nil), newSession(t, p, nil)
	// hostcalls asks to close the sessions with odd ids (the first).
	if n := p.Drain(context.Background(), time.Second); n != 1 {
		t.Fatalf("drained %d", n)
	}
	if got := odd.rec.closes(); len(got) != 1 || got[0] != 1012 {
		t.Fatalf("odd session closes %v", got)
	}
	if got := even.rec.closes(); len(got) != 0 {
		t.Fatalf("even session closes %v", got)
	}
	odd.close(1012)
	even.close(1000)
}

func TestNewFilterAfterRelease(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	p, err := h.Load(context.Background(), "p", buildC(t, srcPassthrough), nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := newSession(t, p, nil)
	if err := p.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.NewFilter(context.Background(), ts.s); !errors.Is(err, ErrReleased) {
		t.Fatalf("got %v", err)
	}
	// The live session keeps its version until it ends.
	if got := ts.must("still here"); got != "still here" {
		t.Fatalf("got %q", got)
	}
	ts.close(1000)
	if err := p.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Sessions are spread over the shards by load.
func TestLeastLoadedShard(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 4})
	p := loadC(t, h, srcPassthrough, "")
	var sessions []*testSession
	for i := 0; i < 8; i++ {
		sessions = append(sessions, newSession(t, p, nil))
	}
	for i, s := range p.Stats().Shards {
		if s.Sessions != 2 {
			t.Fatalf("shard %d has %d sessions: %+v", i, s.Sessions, p.Stats())
		}
	}
	for _, s := range sessions {
		s.close(1000)
	}
	if st := p.Stats(); st.Sessions != 0 {
		t.Fatalf("%+v", st)
	}
}

func TestSendErrorIsReported(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	p := loadC(t, h, srcHostcalls, "")
	ts := newSession(t, p, nil)
	ts.rec.sendErr = errors.New("queue full")
	if got := ts.must("inject x"); got != "inject x" {
		t.Fatalf("got %q", got)
	}
	ts.close(1000)
}

// logSink collects log records.
type logSink struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.msgs = append(l.msgs, b.String())
	return nil
}
func (l *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrSink{l, as}
}
func (l *logSink) WithGroup(string) slog.Handler { return l }

type attrSink struct {
	*logSink
	attrs []slog.Attr
}

func (a *attrSink) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(a.attrs...)
	return a.logSink.Handle(ctx, r)
}

func TestGuestLog(t *testing.T) {
	sink := &logSink{}
	h := newTestHost(t, HostOptions{Shards: 1, Logger: slog.New(sink)})
	p := loadC(t, h, srcHostcalls, "")
	ts := newSession(t, p, nil)
	if got := ts.must("log hello from the guest"); got != "1" {
		t.Fatalf("log_enabled(debug) = %q", got)
	}
	ts.close(1000)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, m := range sink.msgs {
		if strings.HasPrefix(m, "hello from the guest") && strings.Contains(m, "plugin=hostcalls.c") {
			return
		}
	}
	t.Fatalf("guest log missing: %q", sink.msgs)
}

// A guest that asks for frames makes the plugin a streaming filter, and
// sees each frame's meta as sdk/ABI.md §3.1 describes.
func TestFramesAndMeta(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	p := loadC(t, h, srcHostcalls, "frames")
	if !p.Streaming() {
		t.Fatal("Streaming() = false after enable_features(FRAMES)")
	}
	if loadC(t, h, srcHostcalls, "").Streaming() {
		t.Fatal("Streaming() = true without the feature")
	}
	ts := newSession(t, p, nil)
	for i, tt := range []struct {
		dir  filters.Direction
		op   ws.OpCode
		fin  bool
		want string
	}{
		{filters.ClientToBackend, ws.OpText, false, "0 1 0 1 0"},
		{filters.ClientToBackend, ws.OpContinuation, false, "0 0 0 0 1"},
		{filters.ClientToBackend, ws.OpContinuation, true, "0 0 1 0 2"},
		{filters.BackendToClient, ws.OpBinary, true, "1 2 1 1 0"},
		{filters.ClientToBackend, ws.OpBinary, true, "0 2 1 1 3"},
	} {
		m := &filters.Message{Dir: tt.dir, Op: tt.op, Fin: tt.fin, Payload: []byte("x")}
		if _, err := ts.f.OnMessage(context.Background(), ts.s, m); err != nil || string(m.Payload) != tt.want {
			t.Fatalf("frame %d: got %q (%v), want %q", i, m.Payload, err, tt.want)
		}
	}
	ts.close(1000)
}
