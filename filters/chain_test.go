package filters_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/filterstest"
)

// journal records the hook calls of the probes of one test, in order.
type journal struct{ events []string }

func (j *journal) add(format string, args ...any) {
	j.events = append(j.events, fmt.Sprintf(format, args...))
}

// probe is a configurable filter: it logs every call and answers as told.
// It implements every optional hook.
type probe struct {
	name string
	j    *journal

	verdict  filters.Verdict
	err      error // returned by OnMessage
	suffix   string
	hsErr    error
	openErr  error
	closings int
}

var (
	_ filters.Filter     = (*probe)(nil)
	_ filters.Handshaker = (*probe)(nil)
	_ filters.Opener     = (*probe)(nil)
	_ filters.Closer     = (*probe)(nil)
)

func (p *probe) OnMessage(_ context.Context, _ *filters.Session, m *filters.Message) (filters.Verdict, error) {
	p.j.add("%s.message(%s)", p.name, m.Payload)
	m.Payload = append(m.Payload, p.suffix...)
	return p.verdict, p.err
}

func (p *probe) OnHandshake(context.Context, *filters.Session) error {
	p.j.add("%s.handshake", p.name)
	return p.hsErr
}

func (p *probe) OnOpen(context.Context, *filters.Session) error {
	p.j.add("%s.open", p.name)
	return p.openErr
}

func (p *probe) OnClose(_ context.Context, _ *filters.Session, code uint16) {
	p.closings++
	p.j.add("%s.close(%d)", p.name, code)
}

// probeFactory makes probes that are copies of template; it remembers them.
type probeFactory struct {
	template probe
	newErr   error
	made     []*probe
}

func (f *probeFactory) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	if f.newErr != nil {
		f.template.j.add("%s.new failed", f.template.name)
		return nil, f.newErr
	}
	p := f.template
	f.made = append(f.made, &p)
	return &p, nil
}

// plain is a filter with no optional hook.
type plain struct{}

func (plain) OnMessage(context.Context, *filters.Session, *filters.Message) (filters.Verdict, error) {
	return filters.Continue, nil
}

type plainFactory struct{}

func (plainFactory) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return plain{}, nil
}

type streamingFactory struct {
	plainFactory
	on bool
}

func (f streamingFactory) Streaming() bool { return f.on }

// setup builds a chain of entries, giving the probes among them one
// journal, and one instance of it.
func setup(t *testing.T, entries ...filters.Entry) (*filters.Instance, *journal) {
	t.Helper()
	j := &journal{}
	for i := range entries {
		if pf, ok := entries[i].Factory.(*probeFactory); ok {
			pf.template.j = j
			if pf.template.name == "" {
				pf.template.name = entries[i].Name
			}
		}
	}
	in, err := filters.NewChain(entries...).New(t.Context(), filterstest.NewSession(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return in, j
}

func entry(name string, p probe) filters.Entry {
	return filters.Entry{Name: name, Factory: &probeFactory{template: p}}
}

func text(dir filters.Direction, s string) *filters.Message {
	m := filterstest.Text(dir, s)
	return &m
}

func TestChainOrder(t *testing.T) {
	in, j := setup(t, entry("a", probe{suffix: "+a"}), entry("b", probe{suffix: "+b"}), entry("c", probe{suffix: "+c"}))
	m := text(filters.ClientToBackend, "m")
	v, err := in.OnMessage(t.Context(), m)
	if v != filters.Continue || err != nil {
		t.Fatalf("OnMessage: %v %v", v, err)
	}
	if string(m.Payload) != "m+a+b+c" {
		t.Fatalf("payload %q: each filter must see the previous one's output", m.Payload)
	}
	want := []string{"a.message(m)", "b.message(m+a)", "c.message(m+a+b)"}
	if !slices.Equal(j.events, want) {
		t.Fatalf("calls %q, want %q", j.events, want)
	}
}

func TestChainDirections(t *testing.T) {
	in, j := setup(t,
		filters.Entry{Name: "up", Factory: &probeFactory{}, Dirs: filters.ClientToBackend},
		filters.Entry{Name: "down", Factory: &probeFactory{}, Dirs: filters.BackendToClient},
		filters.Entry{Name: "both", Factory: &probeFactory{}}, // zero means both
		filters.Entry{Name: "both2", Factory: &probeFactory{}, Dirs: filters.BothDirections},
	)
	for _, d := range []filters.Direction{filters.ClientToBackend, filters.BackendToClient} {
		if _, err := in.OnMessage(t.Context(), text(d, d.String())); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"up.message(client_to_backend)", "both.message(client_to_backend)", "both2.message(client_to_backend)",
		"down.message(backend_to_client)", "both.message(backend_to_client)", "both2.message(backend_to_client)",
	}
	if !slices.Equal(j.events, want) {
		t.Fatalf("calls %q, want %q", j.events, want)
	}

	t.Run("Wants", func(t *testing.T) {
		up := filters.NewChain(filters.Entry{Name: "up", Factory: plainFactory{}, Dirs: filters.ClientToBackend})
		if !up.Wants(filters.ClientToBackend) || up.Wants(filters.BackendToClient) {
			t.Fatal("a chain of one client-to-backend filter")
		}
		var nilChain *filters.Chain
		if filters.NewChain().Wants(filters.ClientToBackend) || nilChain.Wants(filters.BothDirections) {
			t.Fatal("an empty chain wants nothing")
		}
	})
}

func TestChainVerdicts(t *testing.T) {
	errBoom := errors.New("boom")
	closeErr := &filters.CloseError{Code: 4001, Reason: "bye"}
	var nilClose *filters.CloseError
	tests := []struct {
		name      string
		first     probe
		onError   filters.OnError
		want      filters.Verdict
		wantCode  uint16 // for Close
		wantSame  *filters.CloseError
		secondRan bool
	}{
		{"continue", probe{verdict: filters.Continue}, filters.FailClose, filters.Continue, 0, nil, true},
		{"drop stops the chain", probe{verdict: filters.Drop}, filters.FailClose, filters.Drop, 0, nil, false},
		{"close without error is 1008", probe{verdict: filters.Close}, filters.FailClose, filters.Close, 1008, nil, false},
		{"close error passes through", probe{verdict: filters.Close, err: closeErr}, filters.FailClose, filters.Close, 4001, closeErr, false},
		{"wrapped close error", probe{verdict: filters.Close, err: fmt.Errorf("x: %w", closeErr)}, filters.FailClose, filters.Close, 4001, closeErr, false},
		{"close error wins over continue", probe{verdict: filters.Continue, err: closeErr}, filters.FailSkip, filters.Close, 4001, closeErr, false},
		{"unknown verdict is 1011", probe{verdict: 42}, filters.FailSkip, filters.Close, 1011, nil, false},
		{"failure closes 1011", probe{err: errBoom}, filters.FailClose, filters.Close, 1011, nil, false},
		{"failure skipped", probe{verdict: filters.Drop, err: errBoom}, filters.FailSkip, filters.Continue, 0, nil, true},
		{"typed nil close error is a failure", probe{verdict: filters.Close, err: nilClose}, filters.FailClose, filters.Close, 1011, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := entry("first", tt.first)
			first.OnError = tt.onError
			in, j := setup(t, first, entry("second", probe{}))
			v, err := in.OnMessage(t.Context(), text(filters.ClientToBackend, "m"))
			if v != tt.want {
				t.Fatalf("verdict %v, want %v", v, tt.want)
			}
			var ce *filters.CloseError
			switch {
			case tt.want != filters.Close && err != nil:
				t.Fatalf("error %v with verdict %v", err, v)
			case tt.want == filters.Close && (!errors.As(err, &ce) || ce == nil || ce.Code != tt.wantCode):
				t.Fatalf("error %v, want a *CloseError with code %d", err, tt.wantCode)
			case tt.wantSame != nil && ce != tt.wantSame:
				t.Fatalf("close error %p, want the filter's own %p", ce, tt.wantSame)
			}
			if ran := slices.Contains(j.events, "second.message(m)"); ran != tt.secondRan {
				t.Fatalf("second filter ran: %t, want %t (%q)", ran, tt.secondRan, j.events)
			}
		})
	}
}

func TestOnHandshake(t *testing.T) {
	errBoom := errors.New("boom")
	reject := &filters.RejectError{Status: 403, Reason: "no"}
	tests := []struct {
		name    string
		first   probe
		onError filters.OnError
		wantErr error // nil: accepted
		reject  bool
		calls   []string
	}{
		{"all accept", probe{}, filters.FailClose, nil, false, []string{"first.handshake", "second.handshake"}},
		{"reject", probe{hsErr: reject}, filters.FailClose, reject, true, []string{"first.handshake"}},
		{"reject despite skip", probe{hsErr: reject}, filters.FailSkip, reject, true, []string{"first.handshake"}},
		{"failure refuses", probe{hsErr: errBoom}, filters.FailClose, errBoom, false, []string{"first.handshake"}},
		{"failure skipped", probe{hsErr: errBoom}, filters.FailSkip, nil, false, []string{"first.handshake", "second.handshake"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := entry("first", tt.first)
			first.OnError = tt.onError
			in, j := setup(t, first, filters.Entry{Name: "plain", Factory: plainFactory{}}, entry("second", probe{}))
			err := in.OnHandshake(t.Context())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("OnHandshake: %v, want %v", err, tt.wantErr)
			}
			var rej *filters.RejectError
			if errors.As(err, &rej) != tt.reject {
				t.Fatalf("OnHandshake: %v; a *RejectError: %t", err, tt.reject)
			}
			if !slices.Equal(j.events, tt.calls) {
				t.Fatalf("calls %q, want %q", j.events, tt.calls)
			}
		})
	}
}

func TestOnOpen(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tt := range []struct {
		name    string
		onError filters.OnError
		wantErr bool
	}{{"fail close", filters.FailClose, true}, {"fail skip", filters.FailSkip, false}} {
		t.Run(tt.name, func(t *testing.T) {
			first := entry("first", probe{openErr: errBoom})
			first.OnError = tt.onError
			in, j := setup(t, first, entry("second", probe{}))
			err := in.OnOpen(t.Context())
			if errors.Is(err, errBoom) != tt.wantErr {
				t.Fatalf("OnOpen: %v", err)
			}
			want := []string{"first.open", "second.open"}
			if tt.wantErr {
				want = want[:1]
			}
			if !slices.Equal(j.events, want) {
				t.Fatalf("calls %q, want %q", j.events, want)
			}
		})
	}
}

func TestCloseOnceInReverse(t *testing.T) {
	a, b := &probeFactory{}, &probeFactory{}
	in, j := setup(t, filters.Entry{Name: "a", Factory: a}, filters.Entry{Name: "plain", Factory: plainFactory{}},
		filters.Entry{Name: "b", Factory: b})
	in.Close(t.Context(), 1001)
	in.Close(t.Context(), 1000)
	want := []string{"b.close(1001)", "a.close(1001)"}
	if !slices.Equal(j.events, want) {
		t.Fatalf("calls %q, want %q", j.events, want)
	}
	if a.made[0].closings != 1 || b.made[0].closings != 1 {
		t.Fatal("OnClose must run exactly once")
	}
	var nilInstance *filters.Instance
	nilInstance.Close(t.Context(), 1000) // must not panic
}

// TestCloseAfterRefusedHandshake: the Closer contract holds when the
// handshake failed.
func TestCloseAfterRefusedHandshake(t *testing.T) {
	in, j := setup(t, entry("a", probe{}), entry("b", probe{hsErr: &filters.RejectError{Status: 401}}))
	if err := in.OnHandshake(t.Context()); err == nil {
		t.Fatal("handshake accepted")
	}
	in.Close(t.Context(), 1011)
	want := []string{"a.handshake", "b.handshake", "b.close(1011)", "a.close(1011)"}
	if !slices.Equal(j.events, want) {
		t.Fatalf("calls %q, want %q", j.events, want)
	}
}

func TestNewFailsHalfway(t *testing.T) {
	errNew := errors.New("no instance")
	j := &journal{}
	a := &probeFactory{template: probe{name: "a", j: j}}
	b := &probeFactory{template: probe{name: "b", j: j}, newErr: errNew}
	c := &probeFactory{template: probe{name: "c", j: j}}
	chain := filters.NewChain(filters.Entry{Name: "a", Factory: a}, filters.Entry{Name: "b", Factory: b},
		filters.Entry{Name: "c", Factory: c})
	in, err := chain.New(t.Context(), filterstest.NewSession(t))
	if in != nil || !errors.Is(err, errNew) {
		t.Fatalf("New: %v, %v; want nil and %v", in, err, errNew)
	}
	want := []string{"b.new failed", "a.close(1011)"}
	if !slices.Equal(j.events, want) {
		t.Fatalf("calls %q, want %q", j.events, want)
	}
	if len(c.made) != 0 {
		t.Fatal("a filter after the failing one was created")
	}
}

func TestStreaming(t *testing.T) {
	on, off := streamingFactory{on: true}, streamingFactory{on: false}
	tests := []struct {
		name  string
		chain *filters.Chain
		want  bool
	}{
		{"nil chain", nil, false},
		{"empty chain", filters.NewChain(), false},
		{"one streamer", filters.NewChain(filters.Entry{Factory: on}), true},
		{"all streamers", filters.NewChain(filters.Entry{Factory: on}, filters.Entry{Factory: on}), true},
		{"one does not stream", filters.NewChain(filters.Entry{Factory: on}, filters.Entry{Factory: plainFactory{}}), false},
		{"one streamer says no", filters.NewChain(filters.Entry{Factory: on}, filters.Entry{Factory: off}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.chain.Streaming(); got != tt.want {
				t.Fatalf("Streaming() = %t, want %t", got, tt.want)
			}
		})
	}
}

func TestNilAndEmptyChain(t *testing.T) {
	var nilChain *filters.Chain
	for _, c := range []*filters.Chain{nilChain, filters.NewChain()} {
		if c.Len() != 0 {
			t.Fatalf("Len() = %d", c.Len())
		}
		s := filterstest.NewSession(t)
		in, err := c.New(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		if in.Session() != s {
			t.Fatal("Session() is not the session given to New")
		}
		if err := in.OnHandshake(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := in.OnOpen(t.Context()); err != nil {
			t.Fatal(err)
		}
		if v, err := in.OnMessage(t.Context(), text(filters.ClientToBackend, "m")); v != filters.Continue || err != nil {
			t.Fatalf("OnMessage: %v %v", v, err)
		}
		in.Close(t.Context(), 1000)
		if err := c.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// releasable counts its releases.
type releasable struct {
	plainFactory
	releases int
	err      error
}

func (r *releasable) Release(context.Context) error {
	r.releases++
	return r.err
}

func TestRelease(t *testing.T) {
	errA, errC := errors.New("a stuck"), errors.New("c stuck")
	a, b, c := &releasable{err: errA}, &releasable{}, &releasable{err: errC}
	chain := filters.NewChain(filters.Entry{Name: "a", Factory: a}, filters.Entry{Name: "b", Factory: b},
		filters.Entry{Name: "plain", Factory: plainFactory{}}, filters.Entry{Name: "c", Factory: c})
	err := chain.Release(t.Context())
	if !errors.Is(err, errA) || !errors.Is(err, errC) {
		t.Fatalf("Release: %v, want both failures", err)
	}
	if a.releases != 1 || b.releases != 1 || c.releases != 1 {
		t.Fatalf("releases %d %d %d, want 1 each", a.releases, b.releases, c.releases)
	}
}

func TestNewChainCopiesEntries(t *testing.T) {
	entries := []filters.Entry{{Name: "a", Factory: plainFactory{}, Dirs: filters.ClientToBackend}}
	chain := filters.NewChain(entries...)
	entries[0].Dirs = filters.BackendToClient
	if !chain.Wants(filters.ClientToBackend) || chain.Wants(filters.BackendToClient) {
		t.Fatal("the chain changed with the caller's slice")
	}
}

func TestSession(t *testing.T) {
	s := filters.NewSession(filters.Session{Headers: map[string][]string{"origin": {"a", "b"}}}, nil)
	if err := s.Send(filters.ClientToBackend, ws.OpText, []byte("x")); !errors.Is(err, filters.ErrNoSender) {
		t.Fatalf("Send without a sender: %v", err)
	}
	s.CloseSession(1000, "") // no sender: nothing to do, no panic
	if s.Header("origin") != "a" || s.Header("x") != "" {
		t.Fatal("Header")
	}

	s, rec := filterstest.NewRecordedSession(t)
	if err := s.Send(filters.BackendToClient, ws.OpBinary, []byte{1}); err != nil {
		t.Fatal(err)
	}
	s.CloseSession(4000, "done")
	if sent := rec.Sent(); len(sent) != 1 || sent[0].Dir != filters.BackendToClient || sent[0].Payload[0] != 1 {
		t.Fatalf("sent %v", sent)
	}
	if cl := rec.Closes(); len(cl) != 1 || cl[0] != (filterstest.CloseCall{Code: 4000, Reason: "done"}) {
		t.Fatalf("closes %v", cl)
	}
}

func TestStrings(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		filters.ClientToBackend: "client_to_backend", filters.BackendToClient: "backend_to_client",
		filters.BothDirections: "both", filters.Direction(8): "direction(8)",
		filters.Continue: "continue", filters.Drop: "drop", filters.Close: "close", filters.Verdict(9): "verdict(9)",
	} {
		if v.String() != want {
			t.Errorf("%#v: %q, want %q", v, v.String(), want)
		}
	}
}
