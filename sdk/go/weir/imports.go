//go:build wasip1

package weir

import "unsafe"

// Raw imports of module weir_v1 (ABI.md §5). Pointers are offsets into
// linear memory; Go's wasm pointers fit in 32 bits.

//go:wasmimport weir_v1 enable_features
func enableFeatures(flags int32) int32

//go:wasmimport weir_v1 get_config
func getConfig(buf unsafe.Pointer, limit uint32) int32

//go:wasmimport weir_v1 get_property
func getProperty(sid uint32, key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, limit uint32) int32

//go:wasmimport weir_v1 send_message
func sendMessage(sid uint32, meta int64, p unsafe.Pointer, n uint32) int32

//go:wasmimport weir_v1 close_session
func closeSession(sid uint32, code uint32, reason unsafe.Pointer, n uint32) int32

//go:wasmimport weir_v1 reject
func reject(status uint32, reason unsafe.Pointer, n uint32) int32

//go:wasmimport weir_v1 log
func logImport(level int32, p unsafe.Pointer, n uint32)

//go:wasmimport weir_v1 log_enabled
func logEnabled(level int32) int32

//go:wasmimport weir_v1 metric_define
func metricDefine(kind int32, name unsafe.Pointer, n uint32) int32

//go:wasmimport weir_v1 metric_add
func metricAdd(id int32, value int64)

//go:wasmimport weir_v1 kv_get
func kvGet(key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, limit uint32) int64

//go:wasmimport weir_v1 kv_set
func kvSet(key unsafe.Pointer, keyLen uint32, val unsafe.Pointer, valLen uint32, cas uint32) int32

//go:wasmimport weir_v1 kv_incr
func kvIncr(key unsafe.Pointer, keyLen uint32, delta int64) int64

//go:wasmimport weir_v1 now_ns
func nowNs() int64

//go:wasmimport weir_v1 set_tick
func setTick(ms uint32)

func bytesPtr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
func strPtr(s string) unsafe.Pointer   { return unsafe.Pointer(unsafe.StringData(s)) }

// EnableFeatures asks for feature bits; only honoured in [Initializer.Init].
// It returns the set now enabled.
func EnableFeatures(flags int32) int32 { return enableFeatures(flags) }

// Config returns the plugin's configuration (its config: block as JSON).
// It allocates; call it once, in Init.
func Config() []byte {
	n := getConfig(nil, 0)
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	// Bounded: the config does not change within an instance, so the
	// second call fits unless the host misbehaves.
	if m := getConfig(bytesPtr(b), uint32(len(b))); m != n {
		return nil
	}
	return b
}

// Property copies the session property key into buf when it fits and
// returns its full length, or -NotFound for an unknown key or session.
func Property(sid uint32, key string, buf []byte) int32 {
	return getProperty(sid, strPtr(key), uint32(len(key)), bytesPtr(buf), uint32(len(buf)))
}

// SendMessage injects a whole message into the session; meta comes from
// [NewMeta].
func SendMessage(sid uint32, meta Meta, payload []byte) Status {
	return Status(sendMessage(sid, int64(meta), bytesPtr(payload), uint32(len(payload))))
}

// CloseSession closes the session with code and reason.
func CloseSession(sid uint32, code uint16, reason string) Status {
	return Status(closeSession(sid, uint32(code), strPtr(reason), uint32(len(reason))))
}

// Reject chooses the HTTP status and reason of a refused handshake; only
// valid in [Handshaker.OnHandshake].
func Reject(status int, reason string) Status {
	return Status(reject(uint32(status), strPtr(reason), uint32(len(reason))))
}

// Log writes msg to the gateway's log at level (LogDebug..LogError).
func Log(level int32, msg string) { logImport(level, strPtr(msg), uint32(len(msg))) }

// LogEnabled reports whether level is logged, to skip building messages.
func LogEnabled(level int32) bool { return logEnabled(level) == 1 }

// MetricDefine defines a metric (in Init) and returns its id, or a negated
// status.
func MetricDefine(kind MetricKind, name string) int32 {
	return metricDefine(int32(kind), strPtr(name), uint32(len(name)))
}

// MetricAdd adds value to the metric id: a counter ignores negative values,
// a gauge adds any value, a histogram records one observation.
func MetricAdd(id int32, value int64) { metricAdd(id, value) }

// KVGet copies the value of key into buf when it fits; the result carries
// its version and full length.
func KVGet(key string, buf []byte) KVResult {
	return KVResult(kvGet(strPtr(key), uint32(len(key)), bytesPtr(buf), uint32(len(buf))))
}

// KVSet stores val under key: unconditionally when cas is 0, else only if
// cas is the key's current version ([CASMismatch] otherwise, also for a
// missing key). An empty val deletes the key.
func KVSet(key string, val []byte, cas uint32) Status {
	return Status(kvSet(strPtr(key), uint32(len(key)), bytesPtr(val), uint32(len(val)), cas))
}

// KVIncr adds delta to the 8-byte counter at key and returns the new value,
// or [KVIncrError].
func KVIncr(key string, delta int64) int64 { return kvIncr(strPtr(key), uint32(len(key)), delta) }

// NowNs is the wall clock in ns since the Unix epoch.
func NowNs() int64 { return nowNs() }

// SetTick sets the period of [Ticker.OnTick] in ms (0 stops ticks).
func SetTick(ms uint32) { setTick(ms) }
