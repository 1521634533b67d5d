package jsononly

import (
	"context"
	"encoding/json"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// Name is the name configuration uses for this filter.
const Name = "json_only"

// Close codes of sessions ended by this filter (RFC 6455 §7.4.1).
const (
	// InvalidCode closes a session that sent a text message that is not
	// (the required kind of) JSON.
	InvalidCode = 1007
	// BinaryCode closes a session that sent a binary message when binary is
	// "close".
	BinaryCode = 1003
)

// Info describes the filter for a filters.Registry.
func Info() filters.Info {
	return filters.Info{Name: Name, New: newFactory}
}

// config is the filter's `config:` block.
type config struct {
	RequireObject bool   `json:"require_object"`
	Action        string `json:"action"`
	Binary        string `json:"binary"`
}

// outcome is a precomputed answer, so that refusing does not allocate.
type outcome struct {
	verdict filters.Verdict
	err     *filters.CloseError // nil unless verdict is Close
}

func (o outcome) result() (filters.Verdict, error) {
	if o.err == nil {
		return o.verdict, nil
	}
	return o.verdict, o.err
}

func newFactory(raw json.RawMessage) (filters.Factory, error) {
	cfg := config{Action: "close", Binary: "allow"}
	if err := filters.DecodeConfig(Name, raw, &cfg); err != nil {
		return nil, err
	}
	v := &validator{requireObject: cfg.RequireObject}
	switch cfg.Action {
	case "close":
		v.invalid = outcome{filters.Close, &filters.CloseError{Code: InvalidCode, Reason: "text message is not valid JSON"}}
	case "drop":
		v.invalid = outcome{verdict: filters.Drop}
	default:
		return nil, filters.ConfigErrorf(Name, "action", `must be "close" or "drop", got %q`, cfg.Action)
	}
	switch cfg.Binary {
	case "allow":
		v.binary = outcome{verdict: filters.Continue}
	case "drop":
		v.binary = outcome{verdict: filters.Drop}
	case "close":
		v.binary = outcome{filters.Close, &filters.CloseError{Code: BinaryCode, Reason: "binary messages are not accepted"}}
	default:
		return nil, filters.ConfigErrorf(Name, "binary", `must be "allow", "drop" or "close", got %q`, cfg.Binary)
	}
	return v, nil
}

// validator is both the factory and the filter: it keeps no state per
// session, so every session shares the one value and NewFilter costs nothing.
// It is immutable.
type validator struct {
	requireObject bool
	invalid       outcome
	binary        outcome
}

var (
	_ filters.Factory = (*validator)(nil)
	_ filters.Filter  = (*validator)(nil)
)

// NewFilter returns v itself.
func (v *validator) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return v, nil
}

// OnMessage checks a text message and applies the binary rule to a binary
// one. It neither keeps nor changes the payload.
func (v *validator) OnMessage(_ context.Context, _ *filters.Session, m *filters.Message) (filters.Verdict, error) {
	switch m.Op {
	case ws.OpText:
		if v.valid(m.Payload) {
			return filters.Continue, nil
		}
		return v.invalid.result()
	case ws.OpBinary:
		return v.binary.result()
	}
	return filters.Continue, nil
}

// valid reports whether p is JSON of the required kind. json.Valid takes its
// scanner from a pool: no allocation once warm for valid JSON. For invalid
// JSON it allocates its error (a few small objects); the first byte settles
// most non-JSON text without calling it.
func (v *validator) valid(p []byte) bool {
	switch c := firstByte(p); {
	case v.requireObject && c != '{':
		return false
	case c == '{', c == '[', c == '"', c == '-', '0' <= c && c <= '9', c == 't', c == 'f', c == 'n':
		return json.Valid(p)
	}
	return false
}

// firstByte returns the first byte of p that is not JSON whitespace.
func firstByte(p []byte) byte {
	for _, c := range p {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}
