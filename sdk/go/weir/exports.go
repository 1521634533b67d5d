//go:build wasip1

package weir

import (
	"encoding/binary"
	"unsafe"
)

// Filter handles messages; it is the one hook every filter has.
type Filter interface {
	// OnMessage sees one message (or frame). payload is the buffer the host
	// copied it into: len is the message's length, cap the buffer's
	// capacity (at least len + len/4 + 1024). Edit it in place, or build a
	// new one with append and pass it to [Forward]. payload is valid until
	// OnMessage returns.
	OnMessage(sid uint32, meta Meta, payload []byte) Result
}

// Initializer is a filter with a weir_init hook. Init runs once per
// instance; a non-nil error fails the instance (and the load, on the first).
type Initializer interface {
	Init(configLen uint32) error
}

// Handshaker sees the upgrade request before the client gets its 101.
type Handshaker interface {
	// OnHandshake returns [HandshakeContinue] or [HandshakeReject] (see
	// [Reject]). props is valid until it returns.
	OnHandshake(sid uint32, props Props) int32
}

// Opener sees a session open; a non-zero result fails the hook.
type Opener interface{ OnOpen(sid uint32) int32 }

// Closer sees a session close with code; byPeer is false when this filter
// closed it.
type Closer interface {
	OnClose(sid uint32, code uint16, byPeer bool)
}

// SessionEnder frees a session's state; it is the last hook for sid.
type SessionEnder interface{ OnSessionEnd(sid uint32) }

// Ticker runs every period given to [SetTick].
type Ticker interface{ OnTick() }

// Drainer decides whether a session of a version being replaced stays
// ([DrainKeep]) or closes now ([DrainCloseNow]).
type Drainer interface {
	OnDrain(sid uint32, deadlineMs uint32) int32
}

// The instance's filter and buffer. Package-level on purpose: the module is
// the process, and the host reaches both only through the exports below.
// buf is held here so the garbage collector never frees the memory the host
// writes into.
var (
	filter Filter
	buf    []byte
)

// Register installs the filter. Call it from the filter's init function: a
// WASI reactor runs package initialisation in _initialize, before the first
// hook, and never runs main. A nil filter, or none at all, forwards every
// message unchanged.
func Register(f Filter) { filter = f }

// Buffer is the whole buffer (len = capacity), for a filter that builds its
// output there. Valid during a hook.
func Buffer() []byte { return buf[:cap(buf)] }

// Forward returns the result that forwards p. When p is not already at the
// start of the buffer it is copied there; a p longer than the buffer's
// capacity fails the hook (the host rejects a length above the capacity).
func Forward(p []byte) Result {
	if len(p) > cap(buf) {
		return Continue(len(p))
	}
	if len(p) > 0 && unsafe.SliceData(p) != unsafe.SliceData(buf) {
		copy(buf[:cap(buf)], p)
	}
	return Continue(len(p))
}

// Props is the handshake's property list: records of u32le key length, key,
// u32le value length, value (ABI.md §3, weir_on_handshake).
type Props []byte

// Each calls fn for every record until fn returns false; it stops at the
// first malformed record. key and value alias the buffer.
func (p Props) Each(fn func(key, value []byte) bool) {
	for len(p) >= 4 {
		k := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if uint64(k)+4 > uint64(len(p)) {
			return
		}
		key := p[:k]
		p = p[k:]
		v := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if uint64(v) > uint64(len(p)) {
			return
		}
		if !fn(key, p[:v]) {
			return
		}
		p = p[v:]
	}
}

// Get returns the first value of key.
func (p Props) Get(key string) (value []byte, ok bool) {
	p.Each(func(k, v []byte) bool {
		if string(k) == key {
			value, ok = v, true
			return false
		}
		return true
	})
	return value, ok
}

//go:wasmexport weir_abi_v1
func abiV1() {}

// weirBuffer lends the host [buf, buf+minCap). It grows by allocating a new
// slice: the old one becomes garbage once buf no longer refers to it.
//
//go:wasmexport weir_buffer
func weirBuffer(minCap uint32) uint32 {
	if minCap == 0 {
		minCap = 1
	}
	if uint64(cap(buf)) < uint64(minCap) {
		buf = make([]byte, minCap)
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
}

//go:wasmexport weir_init
func weirInit(configLen uint32) int32 {
	if f, ok := filter.(Initializer); ok {
		if err := f.Init(configLen); err != nil {
			Log(LogError, "weir_init: "+err.Error())
			return 1
		}
	}
	return 0
}

//go:wasmexport weir_on_message
func weirOnMessage(sid uint32, meta int64, n uint32) int64 {
	if filter == nil {
		return int64(Continue(int(n)))
	}
	return int64(filter.OnMessage(sid, Meta(meta), buf[:n:cap(buf)]))
}

//go:wasmexport weir_on_handshake
func weirOnHandshake(sid uint32, propsLen uint32) int32 {
	if f, ok := filter.(Handshaker); ok {
		return f.OnHandshake(sid, Props(buf[:propsLen:propsLen]))
	}
	return HandshakeContinue
}

//go:wasmexport weir_on_open
func weirOnOpen(sid uint32) int32 {
	if f, ok := filter.(Opener); ok {
		return f.OnOpen(sid)
	}
	return 0
}

//go:wasmexport weir_on_close
func weirOnClose(sid uint32, code uint32, byPeer uint32) {
	if f, ok := filter.(Closer); ok {
		f.OnClose(sid, uint16(code), byPeer != 0)
	}
}

//go:wasmexport weir_on_session_end
func weirOnSessionEnd(sid uint32) {
	if f, ok := filter.(SessionEnder); ok {
		f.OnSessionEnd(sid)
	}
}

//go:wasmexport weir_on_tick
func weirOnTick() {
	if f, ok := filter.(Ticker); ok {
		f.OnTick()
	}
}

//go:wasmexport weir_on_drain
func weirOnDrain(sid uint32, deadlineMs uint32) int32 {
	if f, ok := filter.(Drainer); ok {
		return f.OnDrain(sid, deadlineMs)
	}
	return DrainKeep
}
