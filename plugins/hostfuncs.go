package plugins

import (
	"context"
	"log/slog"
	"math"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/tetratelabs/wazero/api"
)

// weirImportSpecs returns the functions of the weir_v1 host module and
// their types (sdk/ABI.md §5).
func weirImportSpecs() map[string]signature {
	return map[string]signature{
		"enable_features": sig(types(i32), i32),
		"get_config":      sig(types(i32, i32), i32),
		"get_property":    sig(types(i32, i32, i32, i32, i32), i32),
		"send_message":    sig(types(i32, i64, i32, i32), i32),
		"close_session":   sig(types(i32, i32, i32, i32), i32),
		"reject":          sig(types(i32, i32, i32), i32),
		"log":             sig(types(i32, i32, i32)),
		"log_enabled":     sig(types(i32), i32),
		"metric_define":   sig(types(i32, i32, i32), i32),
		"metric_add":      sig(types(i32, i64)),
		"kv_get":          sig(types(i32, i32, i32, i32), i64),
		"kv_set":          sig(types(i32, i32, i32, i32, i32), i32),
		"kv_incr":         sig(types(i32, i32, i64), i64),
		"now_ns":          sig(nil, i64),
		"set_tick":        sig(types(i32)),
	}
}

// shardKey finds the calling shard in the context a guest call runs with.
// Each shard passes one context, built once, to every call: host functions
// learn which instance and session they serve without a lookup table.
type shardKey struct{}

func shardFrom(ctx context.Context) *shard {
	sh, _ := ctx.Value(shardKey{}).(*shard)
	return sh
}

// inMemory reports whether [ptr, ptr+n) lies inside mem; it handles
// n = 2^32-1 and overflowing sums.
func inMemory(mem api.Memory, ptr, n uint32) bool {
	return uint64(ptr)+uint64(n) <= uint64(mem.Size())
}

// read returns a view of [ptr, ptr+n); ok is false outside memory.
func read(mod api.Module, ptr, n uint32) ([]byte, bool) {
	mem := mod.Memory()
	if mem == nil || !inMemory(mem, ptr, n) {
		return nil, false
	}
	return mem.Read(ptr, n)
}

// readLimited returns a view of [buf, buf+limit): the place a (buf, limit)
// import may write to.
func readLimited(mod api.Module, buf, limit uint32) ([]byte, bool) {
	return read(mod, buf, limit)
}

func u32(v uint64) uint32 { return uint32(v) }

func status(s int32) uint64 { return uint64(uint32(s)) }

// negStatus64 is an i64 result carrying -s.
func negStatus64(s int64) uint64 { return uint64(-s) }

// kvIncrError is kv_incr's error result, INT64_MIN.
const kvIncrError = uint64(1) << 63

// instantiateHostModules defines weir_v1 and the meter's yield in the
// plugin's runtime. The functions close over the plugin; the shard comes
// from the call's context.
func (p *Plugin) instantiateHostModules(ctx context.Context) error {
	specs := weirImportSpecs()
	b := p.runtime.NewHostModuleBuilder(importModule)
	define := func(name string, fn api.GoModuleFunc) {
		s := specs[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, s.params, s.results).Export(name)
	}
	define("enable_features", p.hostEnableFeatures)
	define("get_config", p.hostGetConfig)
	define("get_property", p.hostGetProperty)
	define("send_message", p.hostSendMessage)
	define("close_session", p.hostCloseSession)
	define("reject", p.hostReject)
	define("log", p.hostLog)
	define("log_enabled", p.hostLogEnabled)
	define("metric_define", p.hostMetricDefine)
	define("metric_add", p.hostMetricAdd)
	define("kv_get", p.hostKVGet)
	define("kv_set", p.hostKVSet)
	define("kv_incr", p.hostKVIncr)
	define("now_ns", p.hostNow)
	define("set_tick", p.hostSetTick)
	if _, err := b.Instantiate(ctx); err != nil {
		return err
	}
	_, err := p.runtime.NewHostModuleBuilder(meterModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.hostYield), nil, types(i32)).
		Export(meterYield).
		Instantiate(ctx)
	return err
}

// errDeadline is what the yield panics with to abort an overrunning call;
// wazero recovers the panic and returns it wrapped.
type deadlineError struct{}

func (deadlineError) Error() string { return "call deadline exceeded" }

var errDeadline error = deadlineError{}

// hostYield runs when metered code used up its fuel: roughly every
// fuelPerYield instructions. Being Go code, it is where the scheduler can
// stop a long guest call for a garbage collection, and it aborts the call
// when it ran past its deadline. The deadline is measured from the first
// yield of the call, so calls that never yield pay nothing for it.
func (p *Plugin) hostYield(ctx context.Context, _ api.Module, stack []uint64) {
	if sh := shardFrom(ctx); sh != nil {
		now := p.host.sinceEpoch()
		if !sh.started {
			sh.started = true
			sh.callStart = now
		} else if time.Duration(now-sh.callStart) > sh.timeout {
			panic(errDeadline)
		}
	}
	stack[0] = fuelPerYield
}

func (p *Plugin) hostEnableFeatures(ctx context.Context, _ api.Module, stack []uint64) {
	sh := shardFrom(ctx)
	if sh == nil {
		stack[0] = 0
		return
	}
	if sh.hook == hookInit {
		sh.features |= u32(stack[0]) & knownFeatures
	}
	stack[0] = uint64(sh.features)
}

func (p *Plugin) hostGetConfig(_ context.Context, mod api.Module, stack []uint64) {
	buf, limit := u32(stack[0]), u32(stack[1])
	dst, ok := readLimited(mod, buf, limit)
	if !ok {
		stack[0] = status(-statusInvalidMemoryAccess)
		return
	}
	if len(p.config) <= len(dst) {
		copy(dst, p.config)
	}
	stack[0] = uint64(uint32(len(p.config)))
}

// session returns the live session sid of the calling shard's instance.
func (sh *shard) session(sid uint32) *filter {
	if sh == nil || sh.inst == nil {
		return nil
	}
	f := sh.inst.sessions[sid]
	if f == nil || f.ended {
		return nil
	}
	return f
}

func (p *Plugin) hostGetProperty(ctx context.Context, mod api.Module, stack []uint64) {
	sid, keyPtr, keyLen, buf, limit := u32(stack[0]), u32(stack[1]), u32(stack[2]), u32(stack[3]), u32(stack[4])
	key, ok := read(mod, keyPtr, keyLen)
	dst, ok2 := readLimited(mod, buf, limit)
	if !ok || !ok2 {
		stack[0] = status(-statusInvalidMemoryAccess)
		return
	}
	var f *filter
	if sid != 0 {
		if f = shardFrom(ctx).session(sid); f == nil {
			stack[0] = status(-statusNotFound)
			return
		}
	}
	v, found := p.property(f, key)
	if !found || len(v) > math.MaxInt32 {
		stack[0] = status(-statusNotFound)
		return
	}
	if len(v) <= len(dst) {
		copy(dst, v)
	}
	stack[0] = uint64(uint32(len(v)))
}

func (p *Plugin) hostSendMessage(ctx context.Context, mod api.Module, stack []uint64) {
	sid, meta, ptr, n := u32(stack[0]), stack[1], u32(stack[2]), u32(stack[3])
	payload, ok := read(mod, ptr, n)
	if !ok {
		stack[0] = status(statusInvalidMemoryAccess)
		return
	}
	sh := shardFrom(ctx)
	f := sh.session(sid)
	if f == nil {
		stack[0] = status(statusNotFound)
		return
	}
	dir, op, ok := unpackSendMeta(meta)
	if !ok || int(n) > p.host.opts.MaxMessageBytes || (op == ws.OpText && !utf8.Valid(payload)) {
		stack[0] = status(statusBadArgument)
		return
	}
	// Session.Send copies the payload before returning (filters.Sender),
	// so the view into guest memory may be passed as is.
	if err := f.s.Send(dir, op, payload); err != nil {
		stack[0] = status(statusInternalFailure)
		return
	}
	stack[0] = statusOK
}

// validCloseCode accepts the codes an endpoint may send (RFC 6455 §7.4 and
// the IANA registry).
func validCloseCode(c uint32) bool {
	switch {
	case c >= 1000 && c <= 1003, c >= 1007 && c <= 1014, c >= 3000 && c <= 4999:
		return true
	}
	return false
}

func (p *Plugin) hostCloseSession(ctx context.Context, mod api.Module, stack []uint64) {
	sid, code, ptr, n := u32(stack[0]), u32(stack[1]), u32(stack[2]), u32(stack[3])
	reason, ok := read(mod, ptr, n)
	if !ok {
		stack[0] = status(statusInvalidMemoryAccess)
		return
	}
	sh := shardFrom(ctx)
	if sh == nil || sh.hook == hookHandshake || !validCloseCode(code) || n > maxReasonBytes || !utf8.Valid(reason) {
		stack[0] = status(statusBadArgument)
		return
	}
	f := sh.session(sid)
	if f == nil {
		stack[0] = status(statusNotFound)
		return
	}
	stack[0] = statusOK
	if f.closing {
		return // its close hooks are running: it is closing already
	}
	f.closedByUs = true
	if f == sh.cur {
		f.closeReq = &closeRequest{code: uint16(code), reason: string(reason)}
		return
	}
	sh.deferred = append(sh.deferred, deferredClose{f: f, code: uint16(code), reason: string(reason)})
}

func (p *Plugin) hostReject(ctx context.Context, mod api.Module, stack []uint64) {
	code, ptr, n := u32(stack[0]), u32(stack[1]), u32(stack[2])
	reason, ok := read(mod, ptr, n)
	if !ok {
		stack[0] = status(statusInvalidMemoryAccess)
		return
	}
	sh := shardFrom(ctx)
	if sh == nil || sh.hook != hookHandshake || sh.cur == nil || code < 400 || code > 599 ||
		n > maxRejectBytes || !utf8.Valid(reason) {
		stack[0] = status(statusBadArgument)
		return
	}
	sh.cur.rejectReq = &rejectRequest{status: int(code), reason: string(reason)}
	stack[0] = statusOK
}

func logLevel(l int32) (slog.Level, bool) {
	switch l {
	case -1:
		return slog.LevelDebug, true
	case 0:
		return slog.LevelInfo, true
	case 1:
		return slog.LevelWarn, true
	case 2:
		return slog.LevelError, true
	}
	return 0, false
}

func (p *Plugin) hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ok := logLevel(int32(u32(stack[0])))
	if !ok || !p.log.Enabled(ctx, level) {
		return
	}
	ptr, n := u32(stack[1]), u32(stack[2])
	if n > maxLogBytes {
		n = maxLogBytes
	}
	msg, ok := read(mod, ptr, n)
	if !ok {
		return
	}
	attrs := []slog.Attr{}
	if sh := shardFrom(ctx); sh != nil {
		attrs = append(attrs, slog.Int("shard", sh.idx))
	}
	p.log.LogAttrs(ctx, level, string(msg), attrs...)
}

func (p *Plugin) hostLogEnabled(ctx context.Context, _ api.Module, stack []uint64) {
	level, ok := logLevel(int32(u32(stack[0])))
	if ok && p.log.Enabled(ctx, level) {
		stack[0] = 1
		return
	}
	stack[0] = 0
}

func (p *Plugin) hostMetricDefine(_ context.Context, mod api.Module, stack []uint64) {
	kind, ptr, n := u32(stack[0]), u32(stack[1]), u32(stack[2])
	name, ok := read(mod, ptr, n)
	if !ok {
		stack[0] = status(-statusInvalidMemoryAccess)
		return
	}
	if kind > uint32(Histogram) {
		stack[0] = status(-statusBadArgument)
		return
	}
	stack[0] = status(p.metrics.define(MetricKind(kind), name))
}

func (p *Plugin) hostMetricAdd(_ context.Context, _ api.Module, stack []uint64) {
	p.metrics.add(int32(u32(stack[0])), int64(stack[1]))
}

func (p *Plugin) hostKVGet(_ context.Context, mod api.Module, stack []uint64) {
	keyPtr, keyLen, buf, limit := u32(stack[0]), u32(stack[1]), u32(stack[2]), u32(stack[3])
	key, ok := read(mod, keyPtr, keyLen)
	dst, ok2 := readLimited(mod, buf, limit)
	switch {
	case !ok || !ok2:
		stack[0] = negStatus64(statusInvalidMemoryAccess)
		return
	case keyLen == 0 || keyLen > maxKVKey:
		stack[0] = negStatus64(statusBadArgument)
		return
	}
	n, cas, found := p.kv.get(key, dst)
	if !found {
		stack[0] = negStatus64(statusNotFound)
		return
	}
	stack[0] = uint64(cas)<<32 | uint64(uint32(n))
}

func (p *Plugin) hostKVSet(_ context.Context, mod api.Module, stack []uint64) {
	keyPtr, keyLen, valPtr, valLen, cas := u32(stack[0]), u32(stack[1]), u32(stack[2]), u32(stack[3]), u32(stack[4])
	key, ok := read(mod, keyPtr, keyLen)
	val, ok2 := read(mod, valPtr, valLen)
	switch {
	case !ok || !ok2:
		stack[0] = status(statusInvalidMemoryAccess)
	case keyLen == 0 || keyLen > maxKVKey || valLen > maxKVValue:
		stack[0] = status(statusBadArgument)
	default:
		stack[0] = status(p.kv.set(key, val, cas))
	}
}

func (p *Plugin) hostKVIncr(_ context.Context, mod api.Module, stack []uint64) {
	keyPtr, keyLen, delta := u32(stack[0]), u32(stack[1]), int64(stack[2])
	key, ok := read(mod, keyPtr, keyLen)
	if !ok || keyLen == 0 || keyLen > maxKVKey {
		stack[0] = kvIncrError
		return
	}
	v, ok := p.kv.incr(key, delta)
	if !ok {
		stack[0] = kvIncrError
		return
	}
	stack[0] = uint64(v)
}

func (p *Plugin) hostNow(_ context.Context, _ api.Module, stack []uint64) {
	stack[0] = uint64(time.Now().UnixNano())
}

func (p *Plugin) hostSetTick(_ context.Context, _ api.Module, stack []uint64) {
	ms := u32(stack[0])
	if ms != 0 && ms < minTickMillis {
		ms = minTickMillis
	}
	p.setTick(time.Duration(ms) * time.Millisecond)
}
