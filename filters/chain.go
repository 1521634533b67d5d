package filters

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OnError says what the chain does when a filter fails (returns an error that
// is not a *CloseError, a WASM trap, a timeout).
type OnError uint8

const (
	// FailClose closes the session with 1011 (internal error). The default:
	// a failing filter is never bypassed silently.
	FailClose OnError = iota
	// FailSkip passes the message on as if the filter had said Continue.
	FailSkip
)

// Entry is one configured filter of a chain.
type Entry struct {
	// Name identifies the filter in logs and metrics.
	Name    string
	Factory Factory
	// Dirs are the directions the filter sees; zero means both.
	Dirs    Direction
	OnError OnError
}

// Chain is an ordered list of filter factories, built once per configuration
// generation. It is immutable and safe for concurrent use.
type Chain struct {
	entries   []Entry
	streaming bool
}

// NewChain returns a chain of entries, in order.
func NewChain(entries ...Entry) *Chain {
	c := &Chain{entries: append([]Entry(nil), entries...), streaming: len(entries) > 0}
	for i := range c.entries {
		if c.entries[i].Dirs == 0 {
			c.entries[i].Dirs = BothDirections
		}
		st, ok := c.entries[i].Factory.(Streamer)
		if !ok || !st.Streaming() {
			c.streaming = false
		}
	}
	return c
}

// Len returns the number of filters in the chain. A nil chain is empty.
func (c *Chain) Len() int {
	if c == nil {
		return 0
	}
	return len(c.entries)
}

// Streaming reports whether every filter of the chain takes single frames.
// When it is false the gateway reassembles messages before the chain sees
// them, and streaming filters see whole messages too.
func (c *Chain) Streaming() bool { return c != nil && c.streaming }

// Wants reports whether any filter of the chain sees direction d.
func (c *Chain) Wants(d Direction) bool {
	if c == nil {
		return false
	}
	for i := range c.entries {
		if c.entries[i].Dirs&d != 0 {
			return true
		}
	}
	return false
}

// Release releases the factories that hold resources. The generation that
// built the chain calls it once, after its last session ended.
func (c *Chain) Release(ctx context.Context) error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, e := range c.entries {
		if r, ok := e.Factory.(ReleasableFactory); ok {
			if err := r.Release(ctx); err != nil {
				errs = append(errs, fmt.Errorf("filter %s: %w", e.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Instance is a chain's filters for one session. Like a Filter, it is called
// by one goroutine at a time per direction pair: the gateway serialises calls.
type Instance struct {
	chain   *Chain
	session *Session
	filters []Filter
	closed  bool
}

// Drain tells the factories that want to know (DrainableFactory) that a
// new configuration replaced this chain, and returns how many sessions they
// closed in answer.
func (c *Chain) Drain(ctx context.Context, deadline time.Duration) int {
	if c == nil {
		return 0
	}
	n := 0
	for _, e := range c.entries {
		if d, ok := e.Factory.(DrainableFactory); ok {
			n += d.Drain(ctx, deadline)
		}
	}
	return n
}

// New creates the session's filters, in order. If one fails, those already
// created are closed and the error is returned.
func (c *Chain) New(ctx context.Context, s *Session) (*Instance, error) {
	in := &Instance{chain: c, session: s}
	if c == nil {
		return in, nil
	}
	in.filters = make([]Filter, 0, len(c.entries))
	for _, e := range c.entries {
		f, err := e.Factory.NewFilter(ctx, s)
		if err != nil {
			in.Close(ctx, 1011)
			return nil, fmt.Errorf("filter %s: %w", e.Name, err)
		}
		in.filters = append(in.filters, f)
	}
	return in, nil
}

// Session returns the session the instance belongs to.
func (in *Instance) Session() *Session { return in.session }

// OnHandshake runs the handshake hooks in order; the first error refuses the
// session. A failing filter configured with FailSkip is skipped unless it
// returned a *RejectError.
func (in *Instance) OnHandshake(ctx context.Context) error {
	for i, f := range in.filters {
		h, ok := f.(Handshaker)
		if !ok {
			continue
		}
		if err := h.OnHandshake(ctx, in.session); err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) && in.chain.entries[i].OnError == FailSkip {
				continue
			}
			return fmt.Errorf("filter %s: %w", in.chain.entries[i].Name, err)
		}
	}
	return nil
}

// OnOpen runs the open hooks in order. An error closes the session with 1011
// unless the filter is configured with FailSkip.
func (in *Instance) OnOpen(ctx context.Context) error {
	for i, f := range in.filters {
		o, ok := f.(Opener)
		if !ok {
			continue
		}
		if err := o.OnOpen(ctx, in.session); err != nil {
			if in.chain.entries[i].OnError == FailSkip {
				continue
			}
			return fmt.Errorf("filter %s: %w", in.chain.entries[i].Name, err)
		}
	}
	return nil
}

// OnMessage runs m through the filters that see its direction, in order.
// It returns Continue when the (possibly rewritten) message should be sent,
// Drop when a filter dropped it, and Close with a *CloseError otherwise: a
// failing filter that is not FailSkip yields CloseError{1011}.
func (in *Instance) OnMessage(ctx context.Context, m *Message) (Verdict, error) {
	for i, f := range in.filters {
		e := &in.chain.entries[i]
		if e.Dirs&m.Dir == 0 {
			continue
		}
		v, err := f.OnMessage(ctx, in.session, m)
		if err != nil {
			// Declared here, not above: errors.As makes it escape, and the
			// heap allocation would then be paid on every message.
			var ce *CloseError
			// A typed nil *CloseError is a filter bug; passing it on would
			// hand the gateway a nil pointer behind a non-nil error, so it
			// counts as a failure.
			if errors.As(err, &ce) && ce != nil {
				return Close, ce
			}
			if e.OnError == FailSkip {
				continue
			}
			return Close, &CloseError{Code: 1011, Reason: "filter failed"}
		}
		switch v {
		case Continue:
		case Drop:
			return Drop, nil
		case Close:
			return Close, &CloseError{Code: 1008, Reason: "closed by filter"}
		default:
			return Close, &CloseError{Code: 1011, Reason: "filter failed"}
		}
	}
	return Continue, nil
}

// Close tells every filter the session ended, once; later calls do nothing.
func (in *Instance) Close(ctx context.Context, code uint16) {
	if in == nil || in.closed {
		return
	}
	in.closed = true
	for i := len(in.filters) - 1; i >= 0; i-- {
		if c, ok := in.filters[i].(Closer); ok {
			c.OnClose(ctx, in.session, code)
		}
	}
}
