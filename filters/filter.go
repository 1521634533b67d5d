package filters

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gobwas/ws"
)

// Direction says which way a message travels.
type Direction uint8

const (
	// ClientToBackend is a message the client sent.
	ClientToBackend Direction = 1 << iota
	// BackendToClient is a message the backend sent.
	BackendToClient

	// BothDirections selects both directions in a filter's configuration.
	BothDirections = ClientToBackend | BackendToClient
)

func (d Direction) String() string {
	switch d {
	case ClientToBackend:
		return "client_to_backend"
	case BackendToClient:
		return "backend_to_client"
	case BothDirections:
		return "both"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// Message is one WebSocket message (or one frame, for a streaming filter).
type Message struct {
	Dir Direction
	// Op is ws.OpText or ws.OpBinary; a streaming filter also sees
	// ws.OpContinuation for the frames after the first one.
	Op ws.OpCode
	// Payload is the unmasked payload. It is valid until OnMessage returns.
	Payload []byte
	// Fin is false only for a non-final frame seen by a streaming filter.
	Fin bool
}

// Verdict is what a filter decides about a message.
type Verdict uint8

const (
	// Continue passes the (possibly rewritten) message on.
	Continue Verdict = iota
	// Drop discards the message; the session goes on.
	Drop
	// Close ends the session. The filter returns a *CloseError saying with
	// which code; without one the session closes with 1008.
	Close
)

func (v Verdict) String() string {
	switch v {
	case Continue:
		return "continue"
	case Drop:
		return "drop"
	case Close:
		return "close"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Filter inspects or rewrites messages of one session.
type Filter interface {
	// OnMessage is called for each message in the directions the filter was
	// configured for. A non-nil error other than a *CloseError means the filter
	// failed: the chain applies the filter's OnError policy.
	OnMessage(ctx context.Context, s *Session, m *Message) (Verdict, error)
}

// Handshaker is implemented by filters that want to see the handshake before
// the client gets its 101. Returning a *RejectError refuses the session with
// that HTTP status; any other error refuses it with 500.
type Handshaker interface {
	OnHandshake(ctx context.Context, s *Session) error
}

// Opener is implemented by filters that want to know when the session is
// open (after the 101 was sent to the client).
type Opener interface {
	OnOpen(ctx context.Context, s *Session) error
}

// Closer is implemented by filters that want to know when the session ends.
// code is the close code the session ended with. OnClose is always called
// exactly once for a filter that was created, also when the handshake failed.
type Closer interface {
	OnClose(ctx context.Context, s *Session, code uint16)
}

// Factory builds a per-session Filter. A Factory is built once per
// configuration generation, from configuration, and is safe for concurrent
// use. The hot path never parses or compiles configuration.
type Factory interface {
	NewFilter(ctx context.Context, s *Session) (Filter, error)
}

// Streamer is implemented by a Factory whose filters want single frames as
// they arrive instead of whole reassembled messages.
type Streamer interface {
	Streaming() bool
}

// ReleasableFactory is implemented by factories that hold resources (a WASM
// plugin's instances, say). The generation that owns the factory calls
// Release exactly once, after the last session using it ended.
type ReleasableFactory interface {
	Factory
	Release(ctx context.Context) error
}

// DrainableFactory is a Factory whose sessions want to hear that their
// configuration was replaced (a WASM plugin's weir_on_drain hook), so that
// they can wrap up or ask to be closed. deadline is how long the gateway
// lets them stay before it closes them with 1012; 0 means no deadline.
// Drain returns how many sessions it closed.
type DrainableFactory interface {
	Factory
	Drain(ctx context.Context, deadline time.Duration) int
}

// Session is what a filter may know about the session it runs in, and the way
// it sends extra messages. The gateway creates it with NewSession.
type Session struct {
	// ID is unique among the live sessions of the process.
	ID uint64
	// Route is the name of the route the session matched.
	Route string
	// Remote is the client's address (the socket peer, or what a trusted
	// proxy said).
	Remote netip.AddrPort
	// Host, Path and Query come from the client's upgrade request.
	Host, Path, Query string
	// Headers are the client's request headers, with lower-case names.
	Headers map[string][]string
	// Subprotocol is the subprotocol the backend chose ("" for none).
	Subprotocol string
	// Meta carries metadata from the handshake (policy decisions, say). It
	// must not be modified after the session opened.
	Meta map[string]string

	sender Sender
}

// Sender lets a filter inject messages into its session. The gateway
// provides it.
type Sender interface {
	// Send queues a message in direction dir; it goes out after the message
	// being filtered now (or at once, outside OnMessage). The payload is
	// copied before Send returns.
	Send(dir Direction, op ws.OpCode, payload []byte) error
	// CloseSession ends the session with the given close code and reason.
	CloseSession(code uint16, reason string)
}

// NewSession returns a Session that sends through sender (which may be nil
// where a filter runs without a gateway, as in tests).
func NewSession(s Session, sender Sender) *Session {
	s.sender = sender
	return &s
}

// ErrNoSender is returned by Send on a session that has no way to send.
var ErrNoSender = errors.New("filters: session cannot send messages")

// Send injects a message in direction dir. See Sender.Send.
func (s *Session) Send(dir Direction, op ws.OpCode, payload []byte) error {
	if s.sender == nil {
		return ErrNoSender
	}
	return s.sender.Send(dir, op, payload)
}

// CloseSession ends the session with code and reason. See Sender.CloseSession.
func (s *Session) CloseSession(code uint16, reason string) {
	if s.sender != nil {
		s.sender.CloseSession(code, reason)
	}
}

// Header returns the first value of the request header name (lower case).
func (s *Session) Header(name string) string {
	if v := s.Headers[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// CloseError asks for the session to close with Code and Reason. Filters
// return it with the Close verdict.
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("close %d: %s", e.Code, e.Reason)
}

// RejectError refuses a handshake with an HTTP status.
type RejectError struct {
	Status int
	Reason string
}

func (e *RejectError) Error() string {
	return fmt.Sprintf("reject %d: %s", e.Status, e.Reason)
}
