package filterstest

import (
	"context"
	"errors"
	"testing"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// Result is what a filter did with one message.
type Result struct {
	Verdict filters.Verdict
	// Op and Payload are the message as the filter left it; Payload is a
	// copy taken before the next call.
	Op      ws.OpCode
	Payload []byte
	// Err is what OnMessage returned, and Close the *CloseError in it, if any.
	Err   error
	Close *filters.CloseError
	// Sent and SessionCloses are what the filter injected through its
	// session during this call.
	Sent          []Sent
	SessionCloses []CloseCall
}

// Run creates one filter from f for a NewRecordedSession session, calls its
// handshake and open hooks, runs msgs through it in order, and calls its
// close hook. Each message gets a fresh copy of its payload, so a filter that
// rewrites in place leaves msgs as they were. Like the gateway, Run stops
// after a message that closes the session (a Close verdict or a
// *CloseError): the results may be fewer than msgs. A failure to build the
// filter or a hook's error fails t.
func Run(t testing.TB, f filters.Factory, msgs []filters.Message) []Result {
	t.Helper()
	ctx := t.Context()
	s, rec := NewRecordedSession(t)
	flt, err := f.NewFilter(ctx, s)
	if err != nil {
		t.Fatalf("NewFilter: %v", err)
	}
	code := uint16(1000)
	defer func() {
		if c, ok := flt.(filters.Closer); ok {
			c.OnClose(ctx, s, code)
		}
	}()
	if err := openFilter(ctx, flt, s); err != nil {
		code = 1011
		t.Fatalf("%v", err)
	}
	rec.take() // what the hooks sent is not a message's doing

	results := make([]Result, 0, len(msgs))
	for _, in := range msgs {
		m := in
		m.Payload = clone(in.Payload)
		r := call(ctx, flt, s, rec, &m)
		results = append(results, r)
		if r.Verdict == filters.Close || r.Close != nil {
			code = closeCode(r)
			break
		}
	}
	return results
}

// call runs one message through flt and records the outcome.
func call(ctx context.Context, flt filters.Filter, s *filters.Session, rec *Recorder, m *filters.Message) Result {
	v, err := flt.OnMessage(ctx, s, m)
	r := Result{Verdict: v, Op: m.Op, Payload: clone(m.Payload), Err: err}
	var ce *filters.CloseError
	if errors.As(err, &ce) && ce != nil {
		r.Close = ce
	}
	r.Sent, r.SessionCloses = rec.take()
	return r
}

// closeCode is the code the session would close with after r.
func closeCode(r Result) uint16 {
	if r.Close != nil {
		return r.Close.Code
	}
	return 1008
}

// openFilter calls the handshake and open hooks a filter implements.
func openFilter(ctx context.Context, flt filters.Filter, s *filters.Session) error {
	if h, ok := flt.(filters.Handshaker); ok {
		if err := h.OnHandshake(ctx, s); err != nil {
			return errors.Join(errHook, err)
		}
	}
	if o, ok := flt.(filters.Opener); ok {
		if err := o.OnOpen(ctx, s); err != nil {
			return errors.Join(errHook, err)
		}
	}
	return nil
}

var errHook = errors.New("filterstest: the filter refused the test session in a handshake or open hook")

// AllocsPerMessage returns the average number of allocations of one
// OnMessage call of flt on m over runs calls (after a warm-up call),
// giving each call a fresh m with its original payload. It skips t under
// the race detector.
func AllocsPerMessage(t testing.TB, flt filters.Filter, m filters.Message, runs int) float64 {
	t.Helper()
	if RaceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	s := NewSession(t)
	ctx := t.Context()
	buf := make([]byte, len(m.Payload))
	var cur filters.Message
	return testing.AllocsPerRun(runs, func() {
		cur = m
		cur.Payload = buf[:copy(buf, m.Payload)]
		_, _ = flt.OnMessage(ctx, s, &cur)
	})
}
