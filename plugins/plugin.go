package plugins

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirproxy/weir/filters"
)

// Crash back-off: the first failure of an instance is replaced at once; a
// failure soon after is replaced after 100 ms, doubling up to 30 s. An
// instance that served a minute without failing starts the count again.
const (
	backoffBase      = 100 * time.Millisecond
	backoffMax       = 30 * time.Second
	crashForgetAfter = time.Minute
)

func backoff(crashes int) time.Duration {
	if crashes <= 1 {
		return 0
	}
	d := backoffBase
	for i := 2; i < crashes && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// Plugin is one loaded version of a WASM filter: a compiled module and its
// pool of pinned shard instances. It implements filters.ReleasableFactory
// and filters.Streamer. A Plugin is safe for concurrent use.
type Plugin struct {
	host     *Host
	name     string
	version  string
	config   []byte
	log      *slog.Logger
	kv       *kvSpace
	metrics  *metricTable
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	shards   []*shard
	features uint32

	mu       sync.Mutex
	refs     int // 1 for the owner until Release, plus 1 per live session
	released bool
	loaded   bool
	closed   bool

	tick struct {
		period  atomic.Int64 // time.Duration; 0 = no ticks
		wake    chan struct{}
		stop    chan struct{}
		done    chan struct{}
		inRound atomic.Bool
	}
}

var (
	_ filters.ReleasableFactory = (*Plugin)(nil)
	_ filters.Streamer          = (*Plugin)(nil)
)

// Name returns the plugin's name; Version the first 16 hex digits of the
// SHA-256 of its module.
func (p *Plugin) Name() string    { return p.name }
func (p *Plugin) Version() string { return p.version }

// Streaming reports whether the guest asked for single frames
// (FeatureFrames) instead of whole messages.
func (p *Plugin) Streaming() bool { return p.features&FeatureFrames != 0 }

// hookKind names the hook a shard is running; host functions check it.
type hookKind uint8

const (
	hookNone hookKind = iota
	hookInit
	hookBuffer
	hookHandshake
	hookOpen
	hookMessage
	hookClose
	hookEnd
	hookTick
	hookDrain
)

func (k hookKind) String() string {
	return [...]string{"none", "init", exportBuffer, exportOnHandshake, exportOnOpen, exportOnMessage,
		exportOnClose, exportOnEnd, exportOnTick, exportOnDrain}[k]
}

// shard is one slot of the pool: at most one instance at a time, replaced
// after a failure. mu serialises every call into the instance; the fields
// below it are only touched with mu held.
type shard struct {
	p   *Plugin
	idx int
	// ctx is passed to every call into this shard's instance, so host
	// functions find the shard (shardFrom); it is built once.
	ctx  context.Context
	load atomic.Int32 // sessions pinned here, for picking the least loaded
	up   atomic.Bool
	// retryAt is when a failed shard may be restarted (unix ns).
	retryAt atomic.Int64

	mu       sync.Mutex
	inst     *instance
	features uint32
	crashes  int
	restarts int
	upSince  time.Time

	// The running call.
	hook      hookKind
	cur       *filter
	started   bool
	callStart int64
	timeout   time.Duration
	// deferred holds closes of other sessions requested during a call; they
	// run after mu is released, since closing a session calls back into its
	// filters (and so into this shard).
	deferred []deferredClose
}

type deferredClose struct {
	f      *filter
	code   uint16
	reason string
}

// instance is one instantiated guest.
type instance struct {
	mod         api.Module
	mem         api.Memory
	buffer      api.Function
	onMessage   api.Function
	onHandshake api.Function
	onOpen      api.Function
	onClose     api.Function
	onEnd       api.Function
	onTick      api.Function
	onDrain     api.Function
	// stack is the reused parameter/result stack of CallWithStack: no
	// allocation per call.
	stack    []uint64
	bufPtr   uint32
	bufCap   uint32
	nextSID  uint32
	sessions map[uint32]*filter
}

func newShard(p *Plugin, idx int) *shard {
	sh := &shard{p: p, idx: idx}
	sh.ctx = context.WithValue(context.Background(), shardKey{}, sh)
	return sh
}

// unlock releases mu, then runs the closes deferred during the call.
func (sh *shard) unlock() {
	if len(sh.deferred) == 0 {
		sh.mu.Unlock()
		return
	}
	pending := append([]deferredClose(nil), sh.deferred...)
	clear(sh.deferred)
	sh.deferred = sh.deferred[:0]
	sh.mu.Unlock()
	for _, c := range pending {
		c.f.s.CloseSession(c.code, c.reason)
	}
}

// invoke calls fn on the current instance with its stack; it returns a
// *CallError on a trap or timeout. mu must be held.
func (sh *shard) invoke(fn api.Function, hook hookKind, cur *filter, timeout time.Duration) error {
	sh.hook, sh.cur, sh.started, sh.timeout = hook, cur, false, timeout
	err := fn.CallWithStack(sh.ctx, sh.inst.stack)
	sh.hook, sh.cur = hookNone, nil
	if err != nil {
		return sh.callError(hook, err)
	}
	return nil
}

func (sh *shard) callError(hook hookKind, err error) *CallError {
	kind := ErrTrap
	if errors.Is(err, errDeadline) {
		kind = ErrCallTimeout
	}
	return &CallError{Plugin: sh.p.name, Hook: hook.String(), Shard: sh.idx, Kind: kind, Cause: err}
}

// call is invoke for a running shard: a failure discards the instance.
func (sh *shard) call(fn api.Function, hook hookKind, cur *filter) error {
	err := sh.invoke(fn, hook, cur, sh.p.host.opts.CallTimeout)
	if err != nil {
		sh.fail(err, cur)
	}
	return err
}

// start instantiates the shard's instance and runs its initialisation. mu
// must be held.
func (sh *shard) start() error {
	p := sh.p
	initTimeout := p.host.opts.InitTimeout
	sh.features = 0
	// A start function runs inside InstantiateModule, metered like any call.
	sh.hook, sh.started, sh.timeout = hookInit, false, initTimeout
	mod, err := p.runtime.InstantiateModule(sh.ctx, p.compiled, p.modCfg)
	sh.hook = hookNone
	if err != nil {
		return fmt.Errorf("instantiate: %w", sh.callError(hookInit, err))
	}
	in := &instance{
		mod:         mod,
		mem:         mod.Memory(),
		buffer:      mod.ExportedFunction(exportBuffer),
		onMessage:   mod.ExportedFunction(exportOnMessage),
		onHandshake: mod.ExportedFunction(exportOnHandshake),
		onOpen:      mod.ExportedFunction(exportOnOpen),
		onClose:     mod.ExportedFunction(exportOnClose),
		onEnd:       mod.ExportedFunction(exportOnEnd),
		onTick:      mod.ExportedFunction(exportOnTick),
		onDrain:     mod.ExportedFunction(exportOnDrain),
		stack:       make([]uint64, 4),
		nextSID:     1,
		sessions:    map[uint32]*filter{},
	}
	sh.inst = in
	fail := func(err error) error {
		sh.inst = nil
		_ = mod.Close(context.Background())
		return err
	}
	if fn := mod.ExportedFunction(exportInitialize); fn != nil {
		if err := sh.invoke(fn, hookInit, nil, initTimeout); err != nil {
			return fail(err)
		}
	}
	if fn := mod.ExportedFunction(exportInit); fn != nil {
		in.stack[0] = uint64(len(p.config))
		if err := sh.invoke(fn, hookInit, nil, initTimeout); err != nil {
			return fail(err)
		}
		if code := int32(uint32(in.stack[0])); code != 0 {
			return fail(&InitError{Code: code})
		}
	}
	sh.upSince = p.host.now()
	sh.up.Store(true)
	return nil
}

// fail discards the instance after a failed call: the sessions pinned to it
// (except cur, whose call failed: its filter returns the error and the
// chain decides) are closed with 1011, and the instance is replaced now or
// after a back-off. mu must be held.
func (sh *shard) fail(cause error, cur *filter) {
	in := sh.inst
	if in == nil {
		return
	}
	p := sh.p
	sh.inst = nil
	sh.up.Store(false)
	for _, f := range in.sessions {
		if f != cur && !f.ended && !f.closing {
			sh.deferred = append(sh.deferred, deferredClose{f: f, code: 1011, reason: "filter instance failed"})
		}
	}
	_ = in.mod.Close(context.Background())
	now := p.host.now()
	if now.Sub(sh.upSince) >= crashForgetAfter {
		sh.crashes = 0
	}
	sh.crashes++
	wait := backoff(sh.crashes)
	sh.retryAt.Store(now.Add(wait).UnixNano())
	p.log.Warn("filter instance failed", "shard", sh.idx, "failures", sh.crashes,
		"sessions_closed", len(in.sessions), "restart_in", wait, "error", cause)
	if wait == 0 {
		_ = sh.restart()
	}
}

// restart brings a failed shard back when its back-off has passed. mu must
// be held.
func (sh *shard) restart() error {
	if sh.inst != nil {
		return nil
	}
	p := sh.p
	now := p.host.now()
	if now.UnixNano() < sh.retryAt.Load() {
		return ErrUnavailable
	}
	if err := sh.start(); err != nil {
		sh.crashes++
		sh.retryAt.Store(now.Add(max(backoff(sh.crashes), backoffBase)).UnixNano())
		p.log.Warn("filter instance restart failed", "shard", sh.idx, "error", err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	sh.restarts++
	return nil
}

// ensureBuffer makes the guest's buffer hold n bytes plus room to grow (see
// sdk/ABI.md §4). mu must be held.
func (sh *shard) ensureBuffer(in *instance, n int) error {
	need := uint64(n) + uint64(n)/4 + 1024
	if in.bufPtr != 0 && uint64(in.bufCap) >= need {
		return nil
	}
	want := max((need+4095)&^4095, 4096)
	if want > math.MaxUint32 {
		return fmt.Errorf("%w: %d bytes", ErrMessageTooLarge, n)
	}
	in.stack[0] = want
	if err := sh.call(in.buffer, hookBuffer, nil); err != nil {
		return err
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 {
		return ErrNoBuffer
	}
	if !inMemory(in.mem, ptr, uint32(want)) {
		return fmt.Errorf("%w: weir_buffer(%d) returned %#x, outside memory", ErrBadResult, want, ptr)
	}
	in.bufPtr, in.bufCap = ptr, uint32(want)
	return nil
}

// tick runs weir_on_tick on the shard's instance.
func (sh *shard) tick() {
	sh.mu.Lock()
	if in := sh.inst; in != nil && in.onTick != nil {
		_ = sh.call(in.onTick, hookTick, nil)
	}
	sh.unlock()
}

// NewFilter pins a new session to the least loaded healthy shard and gives
// it a session id. It does not call the guest.
func (p *Plugin) NewFilter(ctx context.Context, s *filters.Session) (filters.Filter, error) {
	p.mu.Lock()
	if p.released || p.closed {
		p.mu.Unlock()
		return nil, ErrReleased
	}
	p.refs++
	p.mu.Unlock()

	var tried []bool
	for range p.shards {
		sh := p.pick(tried)
		if sh == nil {
			break
		}
		sh.mu.Lock()
		err := sh.restart()
		in := sh.inst
		if err != nil || in == nil || in.nextSID == 0 {
			// nextSID wrapped: ids are never reused, so this instance takes
			// no more sessions.
			sh.unlock()
			if tried == nil {
				tried = make([]bool, len(p.shards))
			}
			tried[sh.idx] = true
			continue
		}
		f := &filter{p: p, sh: sh, inst: in, sid: in.nextSID, s: s}
		in.nextSID++
		in.sessions[f.sid] = f
		sh.load.Add(1)
		sh.unlock()
		return f, nil
	}
	p.unref()
	return nil, ErrUnavailable
}

// pick returns the least loaded shard that is up or due for a restart,
// skipping tried ones.
func (p *Plugin) pick(tried []bool) *shard {
	now := p.host.now().UnixNano()
	var best *shard
	var bestLoad int32
	for i, sh := range p.shards {
		if (tried != nil && tried[i]) || (!sh.up.Load() && now < sh.retryAt.Load()) {
			continue
		}
		if l := sh.load.Load(); best == nil || l < bestLoad {
			best, bestLoad = sh, l
		}
	}
	return best
}

// unref drops a reference; the last one closes the plugin.
func (p *Plugin) unref() {
	p.mu.Lock()
	p.refs--
	last := p.refs == 0
	p.mu.Unlock()
	if last {
		if err := p.closeAll(context.Background()); err != nil {
			p.log.Warn("closing plugin", "error", err)
		}
	}
}

// Release drops the owner's reference. When no session uses the version any
// longer (at once, or when the last one ends), its instances are closed,
// then the compiled module, then the runtime. Release is idempotent.
func (p *Plugin) Release(ctx context.Context) error {
	p.mu.Lock()
	if p.released {
		p.mu.Unlock()
		return nil
	}
	p.released = true
	p.refs--
	last := p.refs == 0
	p.mu.Unlock()
	if last {
		return p.closeAll(ctx)
	}
	return nil
}

// closeAll stops the ticker and closes everything, once.
func (p *Plugin) closeAll(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	stop, done := p.tick.stop, p.tick.done
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		// Closing may be triggered from the ticker itself (a tick closed the
		// last session); it must not wait for itself. The ticker checks the
		// shards under their locks and exits after its round.
		if !p.tick.inRound.Load() {
			<-done
		}
	}
	var errs []error
	for _, sh := range p.shards {
		sh.mu.Lock()
		if sh.inst != nil {
			errs = append(errs, sh.inst.mod.Close(ctx))
			sh.inst = nil
		}
		sh.up.Store(false)
		sh.mu.Unlock()
	}
	if p.compiled != nil {
		errs = append(errs, p.compiled.Close(ctx))
	}
	if p.runtime != nil {
		errs = append(errs, p.runtime.Close(ctx))
	}
	return errors.Join(errs...)
}

// setTick is set_tick: it changes the period and wakes the ticker.
func (p *Plugin) setTick(d time.Duration) {
	p.tick.period.Store(int64(d))
	select {
	case p.tick.wake <- struct{}{}:
	default:
	}
	if d > 0 {
		p.startTicker()
	}
}

// startTicker starts the goroutine that delivers weir_on_tick, once, when
// the module exports it and a period is set. The plugin owns the goroutine:
// closeAll stops it.
func (p *Plugin) startTicker() {
	if p.tick.period.Load() <= 0 || p.compiled == nil {
		return
	}
	if _, ok := p.compiled.ExportedFunctions()[exportOnTick]; !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded || p.closed || p.tick.stop != nil {
		return
	}
	p.tick.stop = make(chan struct{})
	p.tick.done = make(chan struct{})
	go p.runTicker(p.tick.stop, p.tick.done)
}

func (p *Plugin) runTicker(stop, done chan struct{}) {
	defer close(done)
	for {
		var fire <-chan time.Time
		var t *time.Timer
		if d := time.Duration(p.tick.period.Load()); d > 0 {
			t = time.NewTimer(d)
			fire = t.C
		}
		select {
		case <-stop:
			if t != nil {
				t.Stop()
			}
			return
		case <-p.tick.wake:
			if t != nil {
				t.Stop()
			}
			continue
		case <-fire:
		}
		p.tick.inRound.Store(true)
		for _, sh := range p.shards {
			sh.tick()
		}
		p.tick.inRound.Store(false)
	}
}

// Drain tells every live session of this version that it is being replaced
// (weir_on_drain) and closes with 1012 those whose guest asks to close now.
// It returns how many sessions it closed.
func (p *Plugin) Drain(ctx context.Context, deadline time.Duration) int {
	ms := min(max(deadline.Milliseconds(), 0), math.MaxInt32)
	closed := 0
	for _, sh := range p.shards {
		sh.mu.Lock()
		in := sh.inst
		if in == nil || in.onDrain == nil {
			sh.mu.Unlock()
			continue
		}
		sids := make([]uint32, 0, len(in.sessions))
		for sid := range in.sessions {
			sids = append(sids, sid)
		}
		sort.Slice(sids, func(a, b int) bool { return sids[a] < sids[b] })
		for _, sid := range sids {
			f := in.sessions[sid]
			if f == nil || f.ended || f.closing || sh.inst != in {
				continue
			}
			in.stack[0], in.stack[1] = uint64(sid), uint64(ms)
			if err := sh.call(in.onDrain, hookDrain, f); err != nil {
				break
			}
			switch {
			case f.closeReq != nil:
				sh.deferred = append(sh.deferred, deferredClose{f: f, code: f.closeReq.code, reason: f.closeReq.reason})
				f.closeReq = nil
				closed++
			case int32(uint32(in.stack[0])) == 1:
				f.closedByUs = true
				sh.deferred = append(sh.deferred, deferredClose{f: f, code: 1012, reason: "service restart"})
				closed++
			}
		}
		sh.unlock()
	}
	return closed
}

// ShardStats describes one shard.
type ShardStats struct {
	Up       bool
	Sessions int
	// Failures counts recent failures (reset after a minute of service);
	// Restarts counts replacements.
	Failures    int
	Restarts    int
	MemoryBytes uint32
}

// Stats describes a plugin version's pool.
type Stats struct {
	Name, Version string
	Sessions      int
	Shards        []ShardStats
}

// Stats returns a snapshot of the pool.
func (p *Plugin) Stats() Stats {
	st := Stats{Name: p.name, Version: p.version, Shards: make([]ShardStats, len(p.shards))}
	for i, sh := range p.shards {
		sh.mu.Lock()
		s := ShardStats{Up: sh.inst != nil, Sessions: int(sh.load.Load()), Failures: sh.crashes, Restarts: sh.restarts}
		if sh.inst != nil {
			s.MemoryBytes = sh.inst.mem.Size()
		}
		sh.mu.Unlock()
		st.Shards[i] = s
		st.Sessions += s.Sessions
	}
	return st
}

var (
	headerPrefix = []byte("request.header.")
	metaPrefix   = []byte("meta.")
)

// property looks up a session property (sdk/ABI.md §5.3); f is nil for
// plugin-level keys.
func (p *Plugin) property(f *filter, key []byte) (string, bool) {
	switch string(key) {
	case "plugin.name":
		return p.name, true
	case "plugin.version":
		return p.version, true
	}
	if f == nil {
		return "", false
	}
	s := f.s
	switch string(key) {
	case "request.path":
		return s.Path, true
	case "request.host":
		return s.Host, true
	case "request.query":
		return s.Query, true
	case "source.address":
		return s.Remote.String(), s.Remote.IsValid()
	case "route.name":
		return s.Route, true
	case "session.subprotocol":
		return s.Subprotocol, f.opened && s.Subprotocol != ""
	}
	if name, ok := bytes.CutPrefix(key, headerPrefix); ok {
		switch vs := s.Headers[string(name)]; len(vs) {
		case 0:
			return "", false
		case 1:
			return vs[0], true
		default:
			return strings.Join(vs, ", "), true
		}
	}
	if name, ok := bytes.CutPrefix(key, metaPrefix); ok {
		v, ok := s.Meta[string(name)]
		return v, ok
	}
	return "", false
}

// appendProps serialises every property of f's session for
// weir_on_handshake: records of u32le key length, key, u32le value length,
// value.
func (p *Plugin) appendProps(dst []byte, f *filter) []byte {
	rec := func(k1, k2, v string) {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(k1)+len(k2)))
		dst = append(append(dst, k1...), k2...)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	s := f.s
	rec("plugin.name", "", p.name)
	rec("plugin.version", "", p.version)
	rec("request.path", "", s.Path)
	rec("request.host", "", s.Host)
	rec("request.query", "", s.Query)
	rec("route.name", "", s.Route)
	if s.Remote.IsValid() {
		rec("source.address", "", s.Remote.String())
	}
	for name, vs := range s.Headers {
		for _, v := range vs {
			rec("request.header.", name, v)
		}
	}
	for k, v := range s.Meta {
		rec("meta.", k, v)
	}
	return dst
}

func newModuleConfig() wazero.ModuleConfig {
	// Nothing is granted: no files, environment or arguments; stdout and
	// stderr are discarded; sleeps return at once (wazero's default). Real
	// clocks and the host's CSPRNG are not capabilities a filter can abuse.
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
}
