package plugins

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins/internal/meter"
)

// BenchmarkOnMessage is the filter hot path as the gateway calls it, with
// the CPU bound on (the metered module): copy in, one guest call, copy out.
//
// Figures (2-vCPU Intel Xeon VM, Go 1.26.8, wazero v1.12.0; RATIONALE.md):
//
//	passthrough/64B      37 ns/op   0 allocs/op
//	passthrough/1KiB     54 ns/op   0 allocs/op
//	passthrough/64KiB   4.2 µs/op   0 allocs/op
//	uppercase/1KiB      1.4 µs/op   0 allocs/op
func BenchmarkOnMessage(b *testing.B) {
	for _, src := range []string{srcPassthrough, srcUppercase} {
		for _, size := range []int{64, 1 << 10, 64 << 10} {
			name := fmt.Sprintf("%s/%s", guestName(src), sizeName(size))
			b.Run(name, func(b *testing.B) {
				h := newTestHost(b, HostOptions{Shards: 1})
				p := loadC(b, h, src, "")
				ts := newSession(b, p, nil)
				src := bytes.Repeat([]byte("a"), size)
				payload := make([]byte, size)
				m := &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Fin: true}
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					// Fresh lower-case input each time: the filter rewrites
					// the payload in place.
					copy(payload, src)
					m.Payload = payload
					if _, err := ts.f.OnMessage(ctx, ts.s, m); err != nil {
						b.Fatal(err)
					}
				}
				ts.close(1000)
			})
		}
	}
}

func guestName(src string) string {
	switch src {
	case srcPassthrough:
		return "passthrough"
	case srcUppercase:
		return "uppercase"
	}
	return src
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// cpuBound is a candidate mechanism for bounding a guest call's CPU time.
type cpuBound int

const (
	// boundNone: no bound at all. Unsafe (a loop freezes the process at the
	// next GC); the baseline.
	boundNone cpuBound = iota
	// boundTimeoutCtx: WithCloseOnContextDone and a context.WithTimeout per
	// call, as wazero's documentation suggests.
	boundTimeoutCtx
	// boundWatchdog: WithCloseOnContextDone and one long-lived context per
	// shard, cancelled by a single watchdog goroutine that sees a call's
	// start time go stale. No timer per call, but wazero still starts its
	// own goroutine per call and exits to Go at every loop back-edge.
	boundWatchdog
	// boundFuel: the module metered by package meter; no wazero
	// termination support at all. The chosen mechanism.
	boundFuel
)

func (c cpuBound) String() string {
	return [...]string{"none", "close-on-done+timeout-ctx", "close-on-done+watchdog", "fuel"}[c]
}

// BenchmarkCPUBound compares the candidates on the raw call path (write the
// payload, CallWithStack, read the result), for a no-op guest and for one
// that loops over the payload.
//
// Figures (2-vCPU Intel Xeon VM, Go 1.26.8, wazero v1.12.0), 1 KiB:
//
//	                              no-op                  uppercase
//	none (unsafe)                  33 ns    0 allocs     1.14 µs
//	close-on-done+timeout-ctx     ~1.0 µs   8 allocs     15.0 µs
//	close-on-done+watchdog        ~0.66 µs  3 allocs     14.3 µs
//	fuel (chosen)                  34 ns    0 allocs     1.40 µs
func BenchmarkCPUBound(b *testing.B) {
	for _, src := range []string{srcPassthrough, srcUppercase} {
		for _, c := range []cpuBound{boundNone, boundTimeoutCtx, boundWatchdog, boundFuel} {
			b.Run(fmt.Sprintf("%s/%s/1KiB", guestName(src), c), func(b *testing.B) {
				benchRaw(b, buildC(b, src), c, 1<<10)
			})
		}
	}
}

func benchRaw(b *testing.B, wasm []byte, c cpuBound, size int) {
	ctx := context.Background()
	ensure := c == boundTimeoutCtx || c == boundWatchdog
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(ensure))
	defer r.Close(ctx)
	// weir_v1 stubs and the yield; the yield refills fuel without checks
	// (the real one adds a clock read every fuelPerYield instructions).
	hb := r.NewHostModuleBuilder(importModule)
	for name, s := range weirImportSpecs() {
		hb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, st []uint64) {
			if len(s.results) > 0 {
				st[0] = 0
			}
		}), s.params, s.results).Export(name)
	}
	if _, err := hb.Instantiate(ctx); err != nil {
		b.Fatal(err)
	}
	_, err := r.NewHostModuleBuilder(meterModule).NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, st []uint64) { st[0] = fuelPerYield }),
			nil, types(i32)).Export(meterYield).Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if c == boundFuel {
		if wasm, _, err = meter.Instrument(wasm, meter.Options{YieldModule: meterModule, YieldName: meterYield, Fuel: fuelPerYield}); err != nil {
			b.Fatal(err)
		}
	}
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		b.Fatal(err)
	}
	stack := make([]uint64, 3)
	stack[0] = uint64(size * 2)
	if err := mod.ExportedFunction(exportBuffer).CallWithStack(ctx, stack); err != nil {
		b.Fatal(err)
	}
	ptr := uint32(stack[0])
	mem := mod.Memory()
	fn := mod.ExportedFunction(exportOnMessage)
	payload := bytes.Repeat([]byte("a"), size)
	out := make([]byte, size)

	// The watchdog of boundWatchdog: one goroutine, a per-shard context and
	// the start time of the running call.
	var started atomic.Int64
	shardCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	done := make(chan struct{})
	if c == boundWatchdog {
		go func() {
			defer close(done)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if s := started.Load(); s != 0 && time.Now().UnixNano()-s > int64(10*time.Millisecond) {
						cancel()
					}
				}
			}
		}()
	} else {
		close(done)
	}
	defer func() { close(stop); <-done }()

	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		mem.Write(ptr, payload)
		stack[0], stack[1], stack[2] = 1, packMeta(filters.ClientToBackend, ws.OpText, true, true, 0), uint64(size)
		var err error
		switch c {
		case boundTimeoutCtx:
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Millisecond)
			err = fn.CallWithStack(cctx, stack)
			ccancel()
		case boundWatchdog:
			started.Store(time.Now().UnixNano())
			err = fn.CallWithStack(shardCtx, stack)
			started.Store(0)
		default:
			err = fn.CallWithStack(ctx, stack)
		}
		if err != nil {
			b.Fatal(err)
		}
		view, _ := mem.Read(ptr, uint32(stack[0]))
		copy(out, view)
	}
}

// BenchmarkInstanceMemory reports the Go heap one shard instance of a C
// guest costs (heap-bytes/instance), measured over many instances.
// Measured: 157 KiB (128 KiB of it linear memory).
func BenchmarkInstanceMemory(b *testing.B) {
	const shards = 200
	wasm := buildC(b, srcUppercase)
	h := newTestHost(b, HostOptions{Shards: 1})
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p, err := loadWithShards(h, wasm, shards)
		if err != nil {
			b.Fatal(err)
		}
		// One message per instance, so each has its buffer.
		for i := 0; i < shards; i++ {
			ts := newSession(b, p, nil)
			ts.must("warm")
			ts.close(1000)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/shards, "heap-bytes/instance")
		_ = p.Release(context.Background())
	}
}

// loadWithShards loads wasm with a given shard count on a host sharing h's
// cache.
func loadWithShards(h *Host, wasm []byte, shards int) (*Plugin, error) {
	opts := h.opts
	opts.Shards = shards
	h2 := &Host{opts: opts, memPages: h.memPages, cache: h.cache, kv: h.kv, metrics: h.metrics,
		log: h.log, epoch: h.epoch, now: h.now}
	return h2.Load(context.Background(), "mem", wasm, nil)
}

// BenchmarkSessionMemory reports the host-side Go heap one pinned session
// costs (heap-bytes/session), without the gateway's own session.
// Measured: 126 B.
func BenchmarkSessionMemory(b *testing.B) {
	const sessions = 10_000
	h := newTestHost(b, HostOptions{Shards: 4})
	wasm := buildC(b, srcPassthrough)
	s := filters.NewSession(filters.Session{ID: 1}, nil)
	for b.Loop() {
		p, err := h.Load(context.Background(), "p", wasm, nil)
		if err != nil {
			b.Fatal(err)
		}
		fs := make([]filters.Filter, sessions)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range fs {
			if fs[i], err = p.NewFilter(context.Background(), s); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/sessions, "heap-bytes/session")
		for _, f := range fs {
			f.(filters.Closer).OnClose(context.Background(), s, 1000)
		}
		_ = p.Release(context.Background())
	}
}
