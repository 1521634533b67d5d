//go:build wasip1

package weir

// Status is a status code of the weir_v1 imports (proxy-wasm numbering).
type Status int32

// Status codes, ABI.md §5.1.
const (
	OK                  Status = 0
	NotFound            Status = 1
	BadArgument         Status = 2
	InvalidMemoryAccess Status = 6
	CASMismatch         Status = 8
	InternalFailure     Status = 10
	Unimplemented       Status = 12
)

// Direction is bit 0 of a message's meta.
type Direction uint32

// Directions.
const (
	ClientToBackend Direction = 0
	BackendToClient Direction = 1
)

// Opcode is the RFC 6455 opcode in bits 1-4 of a message's meta.
type Opcode uint32

// Opcodes a filter sees.
const (
	OpContinuation Opcode = 0
	OpText         Opcode = 1
	OpBinary       Opcode = 2
)

// Feature bits of [EnableFeatures].
const (
	// FeatureFrames delivers single frames instead of whole messages.
	FeatureFrames int32 = 1
)

// Log levels of [Log].
const (
	LogDebug int32 = -1
	LogInfo  int32 = 0
	LogWarn  int32 = 1
	LogError int32 = 2
)

// MetricKind is the kind argument of [MetricDefine].
type MetricKind int32

// Metric kinds.
const (
	Counter   MetricKind = 0
	Gauge     MetricKind = 1
	Histogram MetricKind = 2
)

// Results of [Handshaker.OnHandshake].
const (
	HandshakeContinue int32 = 0
	HandshakeReject   int32 = 1
)

// Results of [Drainer.OnDrain].
const (
	DrainKeep     int32 = 0
	DrainCloseNow int32 = 1
)

// Meta is the packed message descriptor of ABI.md §3.1.
type Meta int64

// Dir is the message's direction.
func (m Meta) Dir() Direction { return Direction(uint32(m) & 1) }

// Opcode is the message's (or frame's) opcode.
func (m Meta) Opcode() Opcode { return Opcode(uint32(m) >> 1 & 0xF) }

// Fin reports the last frame of a message (always true for whole messages).
func (m Meta) Fin() bool { return uint32(m)>>5&1 == 1 }

// First reports the first frame of a message (always true for whole messages).
func (m Meta) First() bool { return uint32(m)>>6&1 == 1 }

// Seq counts the earlier messages of the session in this direction, mod 2³².
func (m Meta) Seq() uint32 { return uint32(uint64(m) >> 32) }

// NewMeta is the meta of a whole message, for [SendMessage].
func NewMeta(dir Direction, op Opcode) Meta {
	return Meta(uint32(dir)&1 | (uint32(op)&0xF)<<1 | 1<<5 | 1<<6)
}

// Action is the high half of a weir_on_message result.
type Action uint32

// Actions, ABI.md §3.2.
const (
	ActionContinue Action = 0
	ActionDrop     Action = 1
	ActionClose    Action = 2
)

// Result is what [Filter.OnMessage] returns: an action and the length of
// the payload to forward, packed as ABI.md §3.2.
type Result int64

// MakeResult packs an action and a length.
func MakeResult(a Action, n uint32) Result { return Result(uint64(a)<<32 | uint64(n)) }

// Continue forwards the first n bytes of the buffer.
func Continue(n int) Result { return MakeResult(ActionContinue, uint32(n)) }

// Drop drops the message; the session goes on.
func Drop() Result { return MakeResult(ActionDrop, 0) }

// CloseResult drops the message and closes the session, with the code given
// to [CloseSession] or else 1008.
func CloseResult() Result { return MakeResult(ActionClose, 0) }

// Action is the result's action.
func (r Result) Action() Action { return Action(uint64(r) >> 32) }

// Len is the result's payload length.
func (r Result) Len() uint32 { return uint32(r) }

// KVResult is kv_get's packed result: cas << 32 | len, or a negated status.
type KVResult int64

// Err is the status when the call failed, else OK.
func (r KVResult) Err() Status {
	if r < 0 {
		return Status(-r)
	}
	return OK
}

// CAS is the value's version, for [KVSet].
func (r KVResult) CAS() uint32 { return uint32(uint64(r) >> 32) }

// Len is the value's full length.
func (r KVResult) Len() uint32 { return uint32(r) }

// KVIncrError is kv_incr's error value.
const KVIncrError int64 = -1 << 63
