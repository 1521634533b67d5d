package tck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins"
)

// fuzzSeeds are commands of the protocol with their arguments, and a few
// malformed ones.
func fuzzSeeds() []string {
	return []string{
		"echo hello", "echo", "echo  two  spaces", "upper abc ÄÖü", "cap", "grow 0", "grow 17", "grow 4096",
		"drop", "close-action", "close 4001 bye", "close 999 bad", "close 69536 wraps", "close -1 x",
		"close " + strings.Repeat("r", 130), "close-sid 1 4000 me", "close-sid 7 4000 nobody",
		"send-back pong", "send-forward data", "send-sid 1 self", "send-sid 9 x", "send-invalid",
		"prop request.path", "prop0 plugin.name", "prop-len request.host", "prop " + strings.Repeat("k", 1100),
		"hs", "config", "log 0 hi", "log -1 dbg", "log 4294967296 wrap", "metric counter 5", "metric gauge -5",
		"metric histogram 3", "metric nope 1", "metric-define 0 fz", "metric-define 1 fz", "metric-define 2 9x",
		"kv-set a 0 1", "kv-set a 1 2", "kv-set a 9 3", "kv-set a 0", "kv-get a", "kv-get", "kv-set " + strings.Repeat("k", 300) + " 0 v",
		"kv-incr n 1", "kv-incr n -99999999999999999999", "kv-incr a 1", "count", "state-set w", "state-get",
		"state-set " + strings.Repeat("w", 40), "sessions", "sid", "meta", "features", "reject",
		"", " ", "echo\x00nul", "no such command", "99999999999999999999",
	}
}

// skipFuzz leaves out inputs whose outcome may differ between correct
// guests: the clock, the module's hash, traps and loops (they end the
// instance), and outputs longer than the buffer, which the Rust SDK clamps
// to its capacity (Payload::set_len) where the others fail the hook.
func skipFuzz(in string) bool {
	cmd, arg, _ := strings.Cut(in, " ")
	switch cmd {
	case "now", "trap", "spin":
		return true
	case "grow":
		n, err := strconv.ParseInt(strings.TrimLeft(arg, " "), 10, 64)
		return err != nil || n < 0 || n > 4096 || strings.ContainsFunc(arg, func(r rune) bool { return r < '0' || r > '9' })
	}
	return strings.Contains(in, "plugin.version")
}

// outcome is what the host made of one message, comparable across guests:
// the verdict, the output, the error, and what the guest sent, closed and
// logged (taken from the recorder and the log, which so stay small).
type outcome struct {
	verdict filters.Verdict
	out     string
	err     string
	effects string
}

func classify(err error) string {
	var ce *filters.CloseError
	if err == nil {
		return ""
	}
	if errors.As(err, &ce) {
		return fmt.Sprintf("close %d %q", ce.Code, ce.Reason)
	}
	for _, e := range []error{plugins.ErrTrap, plugins.ErrCallTimeout, plugins.ErrOutputTooLarge,
		plugins.ErrBadResult, plugins.ErrNoBuffer, plugins.ErrInstanceLost, plugins.ErrMessageTooLarge} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "other: " + err.Error()
}

// FuzzGuests sends the same text message to the guest of every language
// and fails when their outcomes differ: the guests implement one protocol
// through four SDKs, so a difference is a bug in a guest or an SDK.
func FuzzGuests(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	type target struct {
		lang string
		s    *session
		logs *logSink
	}
	var targets []target
	for _, g := range guests() {
		wasm := g.build(f)
		sink := &logSink{}
		h, err := plugins.NewHost(context.Background(), plugins.HostOptions{
			CacheDir: cacheDir, Shards: 1, CallTimeout: defaultCallTimeout, Logger: slog.New(sink)})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { _ = h.Close(context.Background()) })
		p, err := h.Load(context.Background(), pluginName, wasm, nil)
		if err != nil {
			f.Fatalf("%s: %v", g.lang, err)
		}
		e := &env{ctx: context.Background(), host: h, plugin: p, logs: sink, sessions: map[string]*session{}}
		f.Cleanup(func() { e.finish(f) })
		if err := open("a").run(e); err != nil {
			f.Fatalf("%s: %v", g.lang, err)
		}
		targets = append(targets, target{g.lang, e.sessions["a"], sink})
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) || skipFuzz(in) {
			t.Skip()
		}
		var first outcome
		for i, tg := range targets {
			m := filters.Message{Dir: filters.ClientToBackend, Op: text, Payload: []byte(in), Fin: true}
			v, err := tg.s.f.OnMessage(context.Background(), tg.s.s, &m)
			sent, closes := tg.s.rec.takeAll()
			effects := fmt.Sprintf("sent %v closed %v logged %v", sent, closes, tg.logs.takeAll())
			got := outcome{v, string(m.Payload), classify(err), effects}
			if i == 0 {
				first = got
				continue
			}
			if got != first {
				t.Fatalf("%.60q: %s gave %+.80v, %s gave %+.80v", in, targets[0].lang, first, tg.lang, got)
			}
		}
	})
}
