package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/weirproxy/weir/plugins/internal/meter"
)

// HostOptions configures a Host. Every zero field takes the documented
// default.
type HostOptions struct {
	// CacheDir holds wazero's compilation cache on disk, so a restart does
	// not recompile unchanged modules. "" keeps the cache in memory.
	CacheDir string
	// CallTimeout bounds the CPU time of one hook call. Default 10 ms.
	CallTimeout time.Duration
	// InitTimeout bounds _initialize and weir_init (and a start function).
	// Default 1 s: language runtimes initialise there.
	InitTimeout time.Duration
	// MemoryLimitBytes caps each instance's linear memory; it is rounded
	// down to whole 64 KiB pages. Default 16 MiB.
	MemoryLimitBytes uint64
	// Shards is the number of instances per plugin version. Default
	// 2 × GOMAXPROCS (see RATIONALE.md for the sizing).
	Shards int
	// MaxMessageBytes is the largest payload passed to or accepted from a
	// filter. The gateway sets it to its largest route limit. Default 1 MiB.
	MaxMessageBytes int
	// MaxModuleBytes is the largest module Load accepts. Default 32 MiB.
	MaxModuleBytes int
	// MaxFunctions is the most functions a module may have. Default 100 000.
	MaxFunctions int
	// KVMaxKeys and KVMaxBytes bound the shared key/value store. Defaults
	// 65 536 keys and 64 MiB.
	KVMaxKeys  int
	KVMaxBytes int64
	// Logger receives host and guest logs. Default: discard.
	Logger *slog.Logger
}

func (o *HostOptions) setDefaults() {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Millisecond
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = time.Second
	}
	if o.MemoryLimitBytes == 0 {
		o.MemoryLimitBytes = 16 << 20
	}
	if o.Shards <= 0 {
		o.Shards = 2 * runtime.GOMAXPROCS(0)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.MaxModuleBytes <= 0 {
		o.MaxModuleBytes = 32 << 20
	}
	if o.MaxFunctions <= 0 {
		o.MaxFunctions = 100_000
	}
	if o.KVMaxKeys <= 0 {
		o.KVMaxKeys = 65536
	}
	if o.KVMaxBytes <= 0 {
		o.KVMaxBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Host loads and runs WASM filter plugins. It owns what outlives a plugin
// version: the compilation cache, the key/value store and the guest-defined
// metrics. A Host is safe for concurrent use.
type Host struct {
	opts     HostOptions
	memPages uint32
	cache    wazero.CompilationCache
	kv       *kvStore
	metrics  *metricRegistry
	log      *slog.Logger
	// epoch is the base of the monotonic clock used for call deadlines.
	epoch time.Time
	// now tells time for crash back-off; tests replace it.
	now func() time.Time

	// compileMu serialises compilation: wazero does not de-duplicate
	// concurrent compiles of one module into a shared cache.
	compileMu sync.Mutex
	closed    atomic.Bool
}

// NewHost returns a Host configured by opts.
func NewHost(ctx context.Context, opts HostOptions) (*Host, error) {
	opts.setDefaults()
	pages := opts.MemoryLimitBytes / 65536
	if pages == 0 || pages > 65536 {
		return nil, fmt.Errorf("plugins: MemoryLimitBytes %d is not between 64 KiB and 4 GiB", opts.MemoryLimitBytes)
	}
	h := &Host{
		opts:     opts,
		memPages: uint32(pages),
		kv:       newKVStore(opts.KVMaxKeys, opts.KVMaxBytes),
		metrics:  newMetricRegistry(),
		log:      opts.Logger,
		epoch:    time.Now(),
		now:      time.Now,
	}
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugins: compilation cache %s: %w", opts.CacheDir, err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	return h, nil
}

// Close releases the compilation cache. Plugins must have been released.
func (h *Host) Close(ctx context.Context) error {
	if h.closed.Swap(true) {
		return nil
	}
	return h.cache.Close(ctx)
}

// Metrics returns a snapshot of every guest-defined metric.
func (h *Host) Metrics() []MetricValue { return h.metrics.snapshot() }

// sinceEpoch is the monotonic time used for call deadlines, in ns.
func (h *Host) sinceEpoch() int64 { return int64(time.Since(h.epoch)) }

// Load compiles wasm as a new version of the plugin called name, checks it
// against ABI v1, runs its initialisation on a probe instance with config,
// and pre-warms its shard instances. A failing load returns an error (see
// the Err* load errors) and leaves nothing running.
func (h *Host) Load(ctx context.Context, name string, wasm, config []byte) (*Plugin, error) {
	p, err := h.load(ctx, name, wasm, config)
	if err != nil {
		return nil, fmt.Errorf("plugins: load %q: %w", name, err)
	}
	return p, nil
}

func (h *Host) load(ctx context.Context, name string, wasm, config []byte) (_ *Plugin, err error) {
	if h.closed.Load() {
		return nil, ErrHostClosed
	}
	if len(wasm) > h.opts.MaxModuleBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrModuleTooLarge, len(wasm), h.opts.MaxModuleBytes)
	}
	sum := sha256.Sum256(wasm)
	version := hex.EncodeToString(sum[:8])

	metered, info, err := meter.Instrument(wasm, meter.Options{
		YieldModule:  meterModule,
		YieldName:    meterYield,
		Fuel:         fuelPerYield,
		MaxFunctions: h.opts.MaxFunctions,
	})
	switch {
	case errors.Is(err, meter.ErrTooManyFunctions):
		return nil, fmt.Errorf("%w: %w", ErrModuleTooLarge, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	usesWASI, err := checkImports(info.Imports)
	if err != nil {
		return nil, err
	}
	if !info.HasMemory {
		return nil, &ExportError{Export: exportMemory, Want: "memory", Err: ErrMissingExport}
	}
	if info.MemoryMinPages > h.memPages {
		return nil, fmt.Errorf("%w: %d pages (%d KiB) declared, cap %d pages", ErrMemoryTooLarge,
			info.MemoryMinPages, uint64(info.MemoryMinPages)*64, h.memPages)
	}

	p := &Plugin{
		host:    h,
		name:    name,
		version: version,
		config:  append([]byte(nil), config...),
		log:     h.log.With("plugin", name, "version", version),
		kv:      h.kv.space(name),
		metrics: h.metrics.table(name),
		refs:    1,
		modCfg:  newModuleConfig(),
	}
	p.tick.wake = make(chan struct{}, 1)
	rcfg := wazero.NewRuntimeConfig().
		WithCompilationCache(h.cache).
		WithMemoryLimitPages(h.memPages).
		WithCoreFeatures(api.CoreFeaturesV2).
		WithCloseOnContextDone(false)
	p.runtime = wazero.NewRuntimeWithConfig(ctx, rcfg)
	defer func() {
		if err != nil {
			_ = p.closeAll(context.Background())
		}
	}()
	if usesWASI {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.runtime); err != nil {
			return nil, fmt.Errorf("instantiate WASI: %w", err)
		}
	}
	if err := p.instantiateHostModules(ctx); err != nil {
		return nil, err
	}

	h.compileMu.Lock()
	p.compiled, err = p.runtime.CompileModule(ctx, metered)
	h.compileMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if err := p.checkExports(); err != nil {
		return nil, err
	}
	if err := checkImportTypes(p.compiled); err != nil {
		return nil, err
	}

	p.shards = make([]*shard, h.opts.Shards)
	for i := range p.shards {
		p.shards[i] = newShard(p, i)
	}
	// The first shard is the probe: a module that fails its initialisation
	// fails here, before any session can reach it.
	probe := p.shards[0]
	probe.mu.Lock()
	err = probe.start()
	probe.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p.features = probe.features
	for _, sh := range p.shards[1:] {
		sh.mu.Lock()
		err = sh.start()
		sh.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("pre-warm shard %d: %w", sh.idx, err)
		}
	}
	p.mu.Lock()
	p.loaded = true
	p.mu.Unlock()
	p.startTicker()
	return p, nil
}

// checkImports enforces W-05: functions from weir_v1 and
// wasi_snapshot_preview1 only, and weir_v1 names the host provides.
func checkImports(imports []meter.Import) (usesWASI bool, err error) {
	known := weirImportSpecs()
	for _, imp := range imports {
		switch imp.Module {
		case importModule:
			if _, ok := known[imp.Name]; !ok {
				return false, &ImportError{Module: imp.Module, Name: imp.Name, Reason: "not provided by this host", Err: ErrUnknownImport}
			}
		case wasiModule:
			usesWASI = true
		default:
			return false, &ImportError{Module: imp.Module, Name: imp.Name, Reason: "only weir_v1 and wasi_snapshot_preview1 may be imported", Err: ErrForbiddenImport}
		}
		if imp.Kind != meter.ExternFunc {
			return false, &ImportError{Module: imp.Module, Name: imp.Name, Reason: "only functions may be imported", Err: ErrForbiddenImport}
		}
	}
	return usesWASI, nil
}

// checkImportTypes compares the types of the weir_v1 imports with the ABI.
func checkImportTypes(cm wazero.CompiledModule) error {
	known := weirImportSpecs()
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		if mod != importModule {
			continue
		}
		if want := known[name]; !want.matches(def) {
			return &ImportError{Module: mod, Name: name, Reason: fmt.Sprintf("is %s, want %s", sigOf(def), want), Err: ErrUnknownImport}
		}
	}
	return nil
}

// checkExports verifies the ABI exports and records the optional ones.
func (p *Plugin) checkExports() error {
	if _, ok := p.compiled.ExportedMemories()[exportMemory]; !ok {
		return &ExportError{Export: exportMemory, Want: "memory", Err: ErrMissingExport}
	}
	fns := p.compiled.ExportedFunctions()
	for _, spec := range abiExports() {
		def, ok := fns[spec.name]
		switch {
		case !ok && spec.required:
			return &ExportError{Export: spec.name, Want: spec.sig.String(), Err: ErrMissingExport}
		case ok && !spec.sig.matches(def):
			return &ExportError{Export: spec.name, Want: spec.sig.String(), Got: sigOf(def).String(), Err: ErrExportType}
		}
	}
	return nil
}
