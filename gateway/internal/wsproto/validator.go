package wsproto

import (
	"math"

	"github.com/gobwas/ws"
)

// Validator checks the frames one peer sends on one connection, in order:
// masking, reserved bits and opcodes, control frame rules, fragmentation,
// frame and message sizes, and UTF-8 of text messages (RFC 6455 §5, §8.1;
// SECURITY-CASES F-01…F-07, L-01). It answers with a ProtocolError whose
// code is the close code to send.
//
// Use: CheckHeader before reading any payload byte; CheckPayload on the
// unmasked payload, in order, in as many pieces as it arrives (control
// frames included, though only data is checked); EndFrame after the last
// payload byte of every frame, empty ones included. A frame's calls must
// not interleave with another frame's: frames arrive one after another.
//
// The zero value is unusable (every frame is refused with 1011): call Init.
// A Validator is about 48 bytes, is not safe for concurrent use, and never
// allocates.
type Validator struct {
	maxFrame, maxMessage int64
	msgLen               int64     // bytes of the open message so far, headers checked
	msgOp                ws.OpCode // OpText or OpBinary while a message is open
	inMsg                bool      // a data message is open: its first frame was checked, its FIN frame has not ended
	role                 Role
	utf8                 UTF8
}

// Init readies v for a new connection. maxFrame bounds one data frame's
// payload, maxMessage the sum of a message's frames; a limit ≤ 0 means no
// limit beyond the protocol's 63 bits (configuration is expected to always
// set one).
func (v *Validator) Init(role Role, maxFrame, maxMessage int64) {
	if maxFrame <= 0 {
		maxFrame = math.MaxInt64
	}
	if maxMessage <= 0 {
		maxMessage = math.MaxInt64
	}
	*v = Validator{role: role, maxFrame: maxFrame, maxMessage: maxMessage}
}

// InMessage reports whether a data message is open: from the header of its
// first frame until EndFrame of its FIN frame.
func (v *Validator) InMessage() bool { return v.inMsg }

// CheckHeader checks a frame header before any of its payload is read, so a
// frame announcing 2^62 bytes costs nothing: 1002 for a protocol violation,
// 1009 when the frame or the message it belongs to would exceed its limit.
// Control frames between the fragments of a message are allowed and leave
// the message's state alone.
func (v *Validator) CheckHeader(h ws.Header) error {
	switch v.role {
	case ServerSide:
		if !h.Masked {
			return ProtocolError{Code: ws.StatusProtocolError, Reason: "unmasked frame from a client"}
		}
	case ClientSide:
		if h.Masked {
			return ProtocolError{Code: ws.StatusProtocolError, Reason: "masked frame from a server"}
		}
	default:
		return ProtocolError{Code: ws.StatusInternalServerError, Reason: "validator used before Init"}
	}
	if h.Rsv != 0 {
		// No extension is negotiated in frame mode (§5.2).
		return ProtocolError{Code: ws.StatusProtocolError, Reason: "reserved bit set"}
	}
	switch h.OpCode {
	case ws.OpClose, ws.OpPing, ws.OpPong:
		if h.Length > ws.MaxControlFramePayloadSize {
			return ProtocolError{Code: ws.StatusProtocolError, Reason: "control frame longer than 125 bytes"}
		}
		if !h.Fin {
			return ProtocolError{Code: ws.StatusProtocolError, Reason: "fragmented control frame"}
		}
		return nil
	case ws.OpContinuation:
		if !v.inMsg {
			return ProtocolError{Code: ws.StatusProtocolError, Reason: "continuation frame without a message"}
		}
		if h.Length > v.maxFrame {
			return ProtocolError{Code: ws.StatusMessageTooBig, Reason: "frame too big"}
		}
		// msgLen ≤ maxMessage always holds, so this cannot overflow.
		if h.Length > v.maxMessage-v.msgLen {
			return ProtocolError{Code: ws.StatusMessageTooBig, Reason: "message too big"}
		}
		v.msgLen += h.Length
		return nil
	case ws.OpText, ws.OpBinary:
		if v.inMsg {
			return ProtocolError{Code: ws.StatusProtocolError, Reason: "new message while a fragmented one is open"}
		}
		if h.Length > v.maxFrame {
			return ProtocolError{Code: ws.StatusMessageTooBig, Reason: "frame too big"}
		}
		if h.Length > v.maxMessage {
			return ProtocolError{Code: ws.StatusMessageTooBig, Reason: "message too big"}
		}
		v.inMsg = true
		v.msgOp = h.OpCode
		v.msgLen = h.Length
		v.utf8.Reset()
		return nil
	}
	return ProtocolError{Code: ws.StatusProtocolError, Reason: "reserved opcode"}
}

// InText reports whether the current message is text, whose payload
// CheckPayload must see unmasked.
func (v *Validator) InText() bool { return v.msgOp == ws.OpText }

// CheckPayload checks the next piece of a frame's unmasked payload: for a
// text message, that it continues valid UTF-8, across pieces and fragments
// (1007 at the first invalid byte). Control frame payloads are not checked
// here: a Close payload goes through ParseClose.
func (v *Validator) CheckPayload(h ws.Header, p []byte) error {
	if h.OpCode.IsControl() || v.msgOp != ws.OpText {
		return nil
	}
	if !v.utf8.Write(p) {
		return ProtocolError{Code: ws.StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in a text message"}
	}
	return nil
}

// EndFrame closes a frame after its last payload byte. When the frame ends a
// text message, the text must not stop inside a code point (1007). The
// message state is reset when a FIN data frame ends.
func (v *Validator) EndFrame(h ws.Header) error {
	if h.OpCode.IsControl() || !h.Fin || !v.inMsg {
		return nil
	}
	complete := v.msgOp != ws.OpText || v.utf8.Complete()
	v.inMsg = false
	v.msgOp = 0
	v.msgLen = 0
	v.utf8.Reset()
	if !complete {
		return ProtocolError{Code: ws.StatusInvalidFramePayloadData, Reason: "text message ends inside a code point"}
	}
	return nil
}
