package sizelimit

import (
	"context"
	"encoding/json"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// Name is the name configuration uses for this filter.
const Name = "size_limit"

// CloseCode is the close code of a session ended by this filter (RFC 6455
// §7.4.1: message too big).
const CloseCode = 1009

// Info describes the filter for a filters.Registry.
func Info() filters.Info {
	return filters.Info{Name: Name, New: newFactory}
}

// config is the filter's `config:` block.
type config struct {
	MaxBytes *int64 `json:"max_bytes"`
	Action   string `json:"action"`
}

func newFactory(raw json.RawMessage) (filters.Factory, error) {
	cfg := config{Action: "close"}
	if err := filters.DecodeConfig(Name, raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.MaxBytes == nil {
		return nil, &filters.ConfigError{Filter: Name, Key: "max_bytes", Err: filters.ErrMissingKey}
	}
	if *cfg.MaxBytes <= 0 {
		return nil, filters.ConfigErrorf(Name, "max_bytes", "must be > 0, got %d", *cfg.MaxBytes)
	}
	f := &factory{max: *cfg.MaxBytes}
	switch cfg.Action {
	case "close":
		f.tooBig = &filters.CloseError{Code: CloseCode, Reason: "message too big"}
	case "drop":
	default:
		return nil, filters.ConfigErrorf(Name, "action", `must be "close" or "drop", got %q`, cfg.Action)
	}
	return f, nil
}

// factory holds the validated configuration; it is immutable.
type factory struct {
	max int64
	// tooBig is returned with every Close verdict, so that closing does not
	// allocate; nil means action drop. Nobody may modify it.
	tooBig *filters.CloseError
}

var (
	_ filters.Factory  = (*factory)(nil)
	_ filters.Streamer = (*factory)(nil)
)

// NewFilter returns a filter holding the running byte count of the message
// in flight in each direction (16 bytes per session).
func (f *factory) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return &limiter{factory: f}, nil
}

// Streaming is true with action close. With action drop it is false: once
// the first frames of a message were relayed, dropping the rest would leave
// the peer with half a message.
func (f *factory) Streaming() bool { return f.tooBig != nil }

// limiter is one session's filter.
type limiter struct {
	*factory
	// seen is the size of the message in flight so far, per direction
	// (index 0 client to backend, 1 backend to client). It stops growing
	// once past max, so it cannot overflow however many frames arrive.
	seen [2]int64
}

var _ filters.Filter = (*limiter)(nil)

// OnMessage counts m towards its message's size; frames after the limit was
// passed are refused too, up to the end of the message.
func (l *limiter) OnMessage(_ context.Context, _ *filters.Session, m *filters.Message) (filters.Verdict, error) {
	i := 0
	if m.Dir == filters.BackendToClient {
		i = 1
	}
	if m.Op != ws.OpContinuation {
		l.seen[i] = 0 // first frame of a new message
	}
	if l.seen[i] <= l.max {
		l.seen[i] += int64(len(m.Payload))
	}
	over := l.seen[i] > l.max
	if m.Fin {
		l.seen[i] = 0
	}
	switch {
	case !over:
		return filters.Continue, nil
	case l.tooBig == nil:
		return filters.Drop, nil
	}
	return filters.Close, l.tooBig
}
