package wsproto

import (
	"errors"
	"strconv"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// ProtocolError is a frame-level violation: the session is closed with Code
// (1002 protocol error, 1007 invalid payload data, 1009 message too big; 1011
// for a Validator used before Init).
//
// It is returned as a value so that the hot path never allocates for it;
// errors.As accepts either a ProtocolError or a *ProtocolError target.
type ProtocolError struct {
	Code   ws.StatusCode
	Reason string // a fixed text; it never contains received bytes
}

func (e ProtocolError) Error() string {
	return "wsproto: " + e.Reason + " (close " + strconv.Itoa(int(e.Code)) + ")"
}

// As lets errors.As fill a *ProtocolError target.
func (e ProtocolError) As(target any) bool {
	if t, ok := target.(**ProtocolError); ok {
		c := e
		*t = &c
		return true
	}
	return false
}

// HandshakeError is an upgrade request that must not be upgraded: Status is
// the HTTP status to answer (400, or 426 for an unsupported version), Header
// what the answer must carry besides (for 426, Sec-WebSocket-Version: 13).
//
// It is returned as *HandshakeError; errors.As accepts either form.
type HandshakeError struct {
	Status int
	Reason string // a fixed text; it never contains received bytes
	Header []httphead.Header
}

func (e HandshakeError) Error() string {
	return "wsproto: handshake: " + strconv.Itoa(e.Status) + " " + e.Reason
}

// As lets errors.As fill a HandshakeError value target.
func (e *HandshakeError) As(target any) bool {
	if t, ok := target.(*HandshakeError); ok {
		*t = *e
		return true
	}
	return false
}

// ErrNotSwitching means the backend answered with a status other than 101.
// The gateway relays a legitimate answer (AppendResponse) or answers 502, and
// closes the client connection either way: nothing is ever tunnelled.
var ErrNotSwitching = errors.New("wsproto: backend did not switch protocols")

// UpstreamError is a backend answer that must not lead to a tunnel. Err is
// ErrNotSwitching when the status was not 101 (check errors.Is(err,
// ErrNotSwitching) first to relay such an answer); it is nil for a 101 that
// is invalid, which the gateway answers with 502.
//
// It is returned as *UpstreamError; errors.As accepts either form.
type UpstreamError struct {
	Reason string // a fixed text; it never contains received bytes
	Err    error
}

func (e UpstreamError) Error() string {
	if e.Err != nil {
		return "wsproto: backend handshake: " + e.Reason + ": " + e.Err.Error()
	}
	return "wsproto: backend handshake: " + e.Reason
}

// Unwrap returns Err.
func (e UpstreamError) Unwrap() error { return e.Err }

// As lets errors.As fill an UpstreamError value target.
func (e *UpstreamError) As(target any) bool {
	if t, ok := target.(*UpstreamError); ok {
		*t = *e
		return true
	}
	return false
}
