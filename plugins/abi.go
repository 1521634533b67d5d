package plugins

import (
	"strings"

	"github.com/gobwas/ws"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirproxy/weir/filters"
)

// Names and numbers of ABI v1 (sdk/ABI.md).
const (
	importModule = "weir_v1"
	wasiModule   = "wasi_snapshot_preview1"
	// meterModule and meterYield name the function the metered code calls
	// when its fuel runs out (package meter). Guests may not import it.
	meterModule = "weir_meter"
	meterYield  = "yield"

	// fuelPerYield is the weighted instruction count a guest runs between
	// two calls into the host's deadline check: about 0.1–0.3 ms of
	// compiled code, so a spinning guest delays a GC stop-the-world by that
	// much at most, and the check costs well under 0.1% of guest time.
	fuelPerYield = 1 << 18
)

// Status codes (proxy-wasm numbering).
const (
	statusOK                  = 0
	statusNotFound            = 1
	statusBadArgument         = 2
	statusInvalidMemoryAccess = 6
	statusCASMismatch         = 8
	statusInternalFailure     = 10
)

// Actions of weir_on_message.
const (
	actionContinue = 0
	actionDrop     = 1
	actionClose    = 2
)

// Feature bits of enable_features.
const (
	// FeatureFrames asks for single frames instead of whole messages.
	FeatureFrames  = 1
	knownFeatures  = FeatureFrames
	minTickMillis  = 10
	maxReasonBytes = 123 // a close reason fits a control frame
	maxRejectBytes = 1024
	maxLogBytes    = 4096
)

// Meta bits (sdk/ABI.md §3.1).
const (
	metaDirBit   = 1 << 0
	metaOpShift  = 1
	metaOpMask   = 0xF << metaOpShift
	metaFin      = 1 << 5
	metaFirst    = 1 << 6
	metaReserved = 0xFFFFFF80
	metaSeqShift = 32
)

// packMeta builds the meta value of weir_on_message.
func packMeta(dir filters.Direction, op ws.OpCode, fin, first bool, seq uint32) uint64 {
	m := uint64(seq)<<metaSeqShift | uint64(op&0xF)<<metaOpShift
	if dir == filters.BackendToClient {
		m |= metaDirBit
	}
	if fin {
		m |= metaFin
	}
	if first {
		m |= metaFirst
	}
	return m
}

// unpackSendMeta decodes the meta of send_message: the direction and the
// opcode (text or binary); ok is false for reserved bits or other opcodes.
func unpackSendMeta(meta uint64) (dir filters.Direction, op ws.OpCode, ok bool) {
	low := uint32(meta)
	if low&metaReserved != 0 {
		return 0, 0, false
	}
	op = ws.OpCode((low & metaOpMask) >> metaOpShift)
	if op != ws.OpText && op != ws.OpBinary {
		return 0, 0, false
	}
	dir = filters.ClientToBackend
	if low&metaDirBit != 0 {
		dir = filters.BackendToClient
	}
	return dir, op, true
}

// packResult builds the result of weir_on_message, as a guest does; the
// tests check it against the ABI's worked examples.
func packResult(action, n uint32) uint64 { return uint64(action)<<32 | uint64(n) }

// signature is a function type in the ABI.
type signature struct {
	params, results []api.ValueType
}

func (s signature) String() string {
	var b strings.Builder
	b.WriteString("func(")
	for i, p := range s.params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(p))
	}
	b.WriteString(")")
	switch len(s.results) {
	case 0:
	case 1:
		b.WriteString(" " + api.ValueTypeName(s.results[0]))
	default:
		b.WriteString(" (")
		for i, r := range s.results {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(api.ValueTypeName(r))
		}
		b.WriteString(")")
	}
	return b.String()
}

func (s signature) matches(def api.FunctionDefinition) bool {
	return equalTypes(s.params, def.ParamTypes()) && equalTypes(s.results, def.ResultTypes())
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sigOf(def api.FunctionDefinition) signature {
	return signature{params: def.ParamTypes(), results: def.ResultTypes()}
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func sig(params []api.ValueType, results ...api.ValueType) signature {
	return signature{params: params, results: results}
}

func types(t ...api.ValueType) []api.ValueType { return t }

// Export names.
const (
	exportMemory      = "memory"
	exportMarker      = "weir_abi_v1"
	exportInitialize  = "_initialize"
	exportInit        = "weir_init"
	exportBuffer      = "weir_buffer"
	exportOnHandshake = "weir_on_handshake"
	exportOnOpen      = "weir_on_open"
	exportOnMessage   = "weir_on_message"
	exportOnClose     = "weir_on_close"
	exportOnEnd       = "weir_on_session_end"
	exportOnTick      = "weir_on_tick"
	exportOnDrain     = "weir_on_drain"
)

// exportSpec is one function export of the ABI.
type exportSpec struct {
	name     string
	sig      signature
	required bool
}

// abiExports returns the function exports of ABI v1 (sdk/ABI.md §2).
func abiExports() []exportSpec {
	return []exportSpec{
		{exportMarker, sig(nil), true},
		{exportInitialize, sig(nil), false},
		{exportInit, sig(types(i32), i32), false},
		{exportBuffer, sig(types(i32), i32), true},
		{exportOnHandshake, sig(types(i32, i32), i32), false},
		{exportOnOpen, sig(types(i32), i32), false},
		{exportOnMessage, sig(types(i32, i64, i32), i64), true},
		{exportOnClose, sig(types(i32, i32, i32)), false},
		{exportOnEnd, sig(types(i32)), false},
		{exportOnTick, sig(nil), false},
		{exportOnDrain, sig(types(i32, i32), i32), false},
	}
}
