package filterstest

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// Sent is a message a filter injected with Session.Send.
type Sent struct {
	Dir     filters.Direction
	Op      ws.OpCode
	Payload []byte // a copy
}

// CloseCall is one call of Session.CloseSession.
type CloseCall struct {
	Code   uint16
	Reason string
}

// Recorder is a filters.Sender that records instead of sending. It is safe
// for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	sent   []Sent
	closes []CloseCall
}

var _ filters.Sender = (*Recorder)(nil)

// Send records the message; it copies payload, as the Sender contract says.
func (r *Recorder) Send(dir filters.Direction, op ws.OpCode, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, Sent{Dir: dir, Op: op, Payload: clone(payload)})
	return nil
}

// CloseSession records the call.
func (r *Recorder) CloseSession(code uint16, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closes = append(r.closes, CloseCall{Code: code, Reason: reason})
}

// Sent returns the messages sent so far, oldest first.
func (r *Recorder) Sent() []Sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Sent(nil), r.sent...)
}

// Closes returns the CloseSession calls so far, oldest first.
func (r *Recorder) Closes() []CloseCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]CloseCall(nil), r.closes...)
}

// take returns what was recorded since the last take and forgets it.
func (r *Recorder) take() ([]Sent, []CloseCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, c := r.sent, r.closes
	r.sent, r.closes = nil, nil
	return s, c
}

// TestSession is the session NewSession builds: ID 1 on route "test" from
// 127.0.0.1:40000, upgrade request GET ws://example.test/ws?room=1.
func TestSession() filters.Session {
	return filters.Session{
		ID:     1,
		Route:  "test",
		Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 40000),
		Host:   "example.test",
		Path:   "/ws",
		Query:  "room=1",
		Headers: map[string][]string{
			"host":                  {"example.test"},
			"upgrade":               {"websocket"},
			"connection":            {"Upgrade"},
			"sec-websocket-version": {"13"},
			"origin":                {"https://example.test"},
		},
		Meta: map[string]string{},
	}
}

// NewSession returns TestSession with a recording sender. Use
// NewRecordedSession to read what was recorded.
func NewSession(t testing.TB) *filters.Session {
	t.Helper()
	s, _ := NewRecordedSession(t)
	return s
}

// NewRecordedSession returns TestSession with a recording sender, and the
// recorder.
func NewRecordedSession(t testing.TB) (*filters.Session, *Recorder) {
	t.Helper()
	r := &Recorder{}
	return filters.NewSession(TestSession(), r), r
}

// Text returns a whole text message (Fin set) going in direction dir.
func Text(dir filters.Direction, s string) filters.Message {
	return filters.Message{Dir: dir, Op: ws.OpText, Payload: []byte(s), Fin: true}
}

// Binary returns a whole binary message (Fin set) going in direction dir.
func Binary(dir filters.Direction, b []byte) filters.Message {
	return filters.Message{Dir: dir, Op: ws.OpBinary, Payload: clone(b), Fin: true}
}

// Fragments splits m into n frames as a streaming filter sees them: the
// first keeps m's opcode, the others are continuations, only the last has
// Fin. n is clamped to [1, len(m.Payload)] (one frame for an empty payload).
func Fragments(m filters.Message, n int) []filters.Message {
	n = min(n, len(m.Payload))
	n = max(n, 1)
	out := make([]filters.Message, 0, n)
	size := len(m.Payload) / n
	rest := m.Payload
	for i := range n {
		part := rest[:size]
		if i == n-1 {
			part = rest
		}
		rest = rest[len(part):]
		op := ws.OpContinuation
		if i == 0 {
			op = m.Op
		}
		out = append(out, filters.Message{Dir: m.Dir, Op: op, Payload: clone(part), Fin: i == n-1})
	}
	return out
}

// clone copies b; nil stays nil and empty stays empty.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
