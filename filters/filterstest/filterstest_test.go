package filterstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// fn adapts a function to a stateless filter and factory.
type fn func(s *filters.Session, m *filters.Message) (filters.Verdict, error)

func (f fn) NewFilter(context.Context, *filters.Session) (filters.Filter, error) { return f, nil }
func (f fn) OnMessage(_ context.Context, s *filters.Session, m *filters.Message) (filters.Verdict, error) {
	return f(s, m)
}

var _ filters.Filter = fn(nil)

func pass(*filters.Session, *filters.Message) (filters.Verdict, error) { return filters.Continue, nil }

// upper rewrites text in place to upper case, and asks for a close on "bye".
func upper(s *filters.Session, m *filters.Message) (filters.Verdict, error) {
	if string(m.Payload) == "bye" {
		return filters.Close, &filters.CloseError{Code: 4000, Reason: "bye"}
	}
	for i, c := range m.Payload {
		if 'a' <= c && c <= 'z' {
			m.Payload[i] = c - 32
		}
	}
	if string(m.Payload) == "PING" {
		_ = s.Send(filters.BackendToClient, ws.OpText, []byte("pong"))
	}
	return filters.Continue, nil
}

// hooked records its lifecycle in events, when set (which makes it unfit
// for concurrent sessions).
type hooked struct {
	events *[]string
	route  string // refuse handshakes from other routes, when set
}

func (h *hooked) record(e string) {
	if h.events != nil {
		*h.events = append(*h.events, e)
	}
}

func (h *hooked) NewFilter(context.Context, *filters.Session) (filters.Filter, error) { return h, nil }
func (h *hooked) OnMessage(context.Context, *filters.Session, *filters.Message) (filters.Verdict, error) {
	h.record("message")
	return filters.Continue, nil
}
func (h *hooked) OnHandshake(_ context.Context, s *filters.Session) error {
	h.record("handshake")
	if h.route != "" && s.Route != h.route {
		return &filters.RejectError{Status: 403}
	}
	return nil
}
func (h *hooked) OnOpen(context.Context, *filters.Session) error {
	h.record("open")
	return nil
}
func (h *hooked) OnClose(_ context.Context, _ *filters.Session, code uint16) {
	h.record("close " + string(rune('0'+code%10)))
}

func TestRun(t *testing.T) {
	msgs := []filters.Message{
		Text(filters.ClientToBackend, "hello"),
		Text(filters.ClientToBackend, "ping"),
		Text(filters.ClientToBackend, "bye"),
		Text(filters.ClientToBackend, "never seen"),
	}
	got := Run(t, fn(upper), msgs)
	if len(got) != 3 {
		t.Fatalf("%d results, want 3: Run stops after a close", len(got))
	}
	if string(got[0].Payload) != "HELLO" || got[0].Verdict != filters.Continue || got[0].Op != ws.OpText {
		t.Fatalf("result 0: %+v", got[0])
	}
	if string(msgs[0].Payload) != "hello" {
		t.Fatal("Run let the filter rewrite the caller's payload")
	}
	if len(got[0].Sent) != 0 || len(got[1].Sent) != 1 || string(got[1].Sent[0].Payload) != "pong" {
		t.Fatalf("sent: %v, %v", got[0].Sent, got[1].Sent)
	}
	if got[2].Verdict != filters.Close || got[2].Close == nil || got[2].Close.Code != 4000 {
		t.Fatalf("result 2: %+v", got[2])
	}
}

func TestRunHooks(t *testing.T) {
	var events []string
	Run(t, &hooked{events: &events}, []filters.Message{Text(filters.ClientToBackend, "x")})
	if want := []string{"handshake", "open", "message", "close 0"}; !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}

func TestFragments(t *testing.T) {
	m := Text(filters.ClientToBackend, "abcdefg")
	frames := Fragments(m, 3)
	var joined []byte
	for i, f := range frames {
		joined = append(joined, f.Payload...)
		wantOp := ws.OpContinuation
		if i == 0 {
			wantOp = ws.OpText
		}
		if f.Op != wantOp || f.Fin != (i == len(frames)-1) || f.Dir != m.Dir {
			t.Fatalf("frame %d: %+v", i, f)
		}
	}
	if len(frames) != 3 || !bytes.Equal(joined, m.Payload) {
		t.Fatalf("frames %+v", frames)
	}
	if got := Fragments(Text(filters.ClientToBackend, ""), 5); len(got) != 1 || !got[0].Fin || got[0].Op != ws.OpText {
		t.Fatalf("empty message: %+v", got)
	}
	if got := Fragments(Text(filters.ClientToBackend, "ab"), 9); len(got) != 2 {
		t.Fatalf("more frames than bytes: %d", len(got))
	}
}

func TestConformancePasses(t *testing.T) {
	Conformance(t, fn(pass))
	Conformance(t, fn(upper), WithMessages(Text(filters.ClientToBackend, "bye"), Text(filters.BackendToClient, "ping")))
	Conformance(t, &hooked{route: "private"}, WithSession(filters.Session{Route: "private"}))
}

// keeper keeps the previous payload (the bug Conformance looks for) and
// sends it along with the next message.
type keeper struct{}

func (keeper) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return &keeperFilter{}, nil
}

type keeperFilter struct{ prev []byte }

func (k *keeperFilter) OnMessage(_ context.Context, _ *filters.Session, m *filters.Message) (filters.Verdict, error) {
	out := append(append([]byte(nil), k.prev...), m.Payload...)
	k.prev = m.Payload // the bug
	m.Payload = out
	return filters.Continue, nil
}

// shared counts messages across all its sessions: state that leaks between
// sessions (atomic, so that -race stays quiet and the output gives it away).
type shared struct{ n *atomic.Int64 }

func (s shared) NewFilter(context.Context, *filters.Session) (filters.Filter, error) { return s, nil }
func (s shared) OnMessage(_ context.Context, _ *filters.Session, m *filters.Message) (filters.Verdict, error) {
	if s.n.Add(1) == 3 { // only the first session ever sees this
		return filters.Drop, nil
	}
	return filters.Continue, nil
}

func TestConformanceCatches(t *testing.T) {
	tests := []struct {
		name  string
		f     filters.Factory
		check func(*conformance, context.Context) error
		want  error
	}{
		{"kept payload", keeper{}, (*conformance).doesNotKeepPayload, errKeptPayload},
		{"state shared between sessions", shared{new(atomic.Int64)}, (*conformance).concurrentSessions, errDiffers},
		{"unknown verdict", fn(func(*filters.Session, *filters.Message) (filters.Verdict, error) { return 7, nil }),
			(*conformance).emptyPayloads, errBadVerdict},
		{"fails on empty payloads", fn(func(_ *filters.Session, m *filters.Message) (filters.Verdict, error) {
			if len(m.Payload) == 0 {
				return filters.Continue, errors.New("empty")
			}
			return filters.Continue, nil
		}), (*conformance).emptyPayloads, errFailed},
		{"close code 1005", fn(func(*filters.Session, *filters.Message) (filters.Verdict, error) {
			return filters.Close, &filters.CloseError{Code: 1005}
		}), (*conformance).emptyPayloads, errBadClose},
		{"close reason too long", fn(func(*filters.Session, *filters.Message) (filters.Verdict, error) {
			return filters.Close, &filters.CloseError{Code: 1008, Reason: string(make([]byte, 124))}
		}), (*conformance).largePayloads, errBadClose},
		{"CloseSession with 1006", fn(func(s *filters.Session, _ *filters.Message) (filters.Verdict, error) {
			s.CloseSession(1006, "")
			return filters.Drop, nil
		}), (*conformance).emptyPayloads, errBadClose},
		{"invalid UTF-8 out", fn(func(_ *filters.Session, m *filters.Message) (filters.Verdict, error) {
			m.Payload = append(m.Payload, 0xff)
			return filters.Continue, nil
		}), (*conformance).largePayloads, errBadUTF8},
		{"invalid UTF-8 sent", fn(func(s *filters.Session, _ *filters.Message) (filters.Verdict, error) {
			return filters.Continue, s.Send(filters.BackendToClient, ws.OpText, []byte{0xc3})
		}), (*conformance).emptyPayloads, errBadUTF8},
		{"refuses the test session", &hooked{route: "private"},
			(*conformance).closeWithoutMessages, errHook},
		{"NewFilter fails", failing{}, (*conformance).closeWithoutMessages, errNewFilter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &conformance{factory: tt.f, session: TestSession(), corpus: defaultCorpus()}
			if err := tt.check(c, t.Context()); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

type failing struct{}

func (failing) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return nil, errors.New("no")
}

func TestNonDeterministic(t *testing.T) {
	c := &conformance{factory: shared{new(atomic.Int64)}, session: TestSession(), corpus: defaultCorpus()}
	NonDeterministic()(c)
	if err := c.concurrentSessions(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.doesNotKeepPayload(t.Context()); !errors.Is(err, errNotApplicable) {
		t.Fatalf("does_not_keep_payload on a non-deterministic filter: %v", err)
	}
}

// CheckNew accepts a factory or a *filters.ConfigError, and nothing else.
func TestCheckNew(t *testing.T) {
	info := func(fac filters.Factory, err error) filters.Info {
		return filters.Info{Name: "x", New: func(json.RawMessage) (filters.Factory, error) { return fac, err }}
	}
	ok := []filters.Info{info(failing{}, nil), info(nil, &filters.ConfigError{Filter: "x", Err: errors.New("bad")})}
	bad := []filters.Info{info(nil, errors.New("plain")), info(nil, nil), info(failing{}, &filters.ConfigError{Filter: "x"})}
	for i, in := range ok {
		if err := checkNew(in, nil); err != nil {
			t.Errorf("ok %d: %v", i, err)
		}
	}
	for i, in := range bad {
		if err := checkNew(in, nil); err == nil {
			t.Errorf("bad %d: accepted", i)
		}
	}
}
