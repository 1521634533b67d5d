package plugins

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins/pluginstest"
)

// TestMeasureMemory is a measurement: it prints what one shard instance
// and a whole pool at 10,000 sessions cost, for the passthrough example of
// each guest SDK, checking only that the pool behaved (every session
// pinned, spread evenly, every message forwarded unchanged). It is skipped
// unless WEIR_MEASURE_MEMORY=1: it builds four toolchains' guests and holds
// over 100 MiB. The figures are in RATIONALE.md §3:
//
//	WEIR_MEASURE_MEMORY=1 go test -run TestMeasureMemory -v -count=1 ./plugins/
//
// WEIR_MEASURE_SHARDS overrides the number of extra shards instantiated to
// average the per-shard cost over (default 64; the Go guest uses a quarter).
// Each per-shard figure is the median of three rounds.
func TestMeasureMemory(t *testing.T) {
	if os.Getenv("WEIR_MEASURE_MEMORY") != "1" {
		t.Skip("a measurement: set WEIR_MEASURE_MEMORY=1 to run it (see RATIONALE.md §3)")
	}
	extra := 64
	if v := os.Getenv("WEIR_MEASURE_SHARDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			t.Fatalf("WEIR_MEASURE_SHARDS=%q: want 1..1024", v)
		}
		extra = n
	}
	guests := []struct {
		lang  string
		build func(testing.TB) []byte
		// div divides the shard count: a Go instance costs ~20× a C one.
		div int
	}{
		{"C", func(tb testing.TB) []byte { return pluginstest.C(tb, "sdk/c/examples/passthrough.c") }, 1},
		{"Rust", func(tb testing.TB) []byte { return pluginstest.Rust(tb, "sdk/rust", "passthrough") }, 1},
		{"AssemblyScript", func(tb testing.TB) []byte {
			return pluginstest.AssemblyScript(tb, "sdk/assemblyscript/examples/passthrough/index.ts")
		}, 1},
		{"Go", func(tb testing.TB) []byte { return pluginstest.Go(tb, "sdk/go/examples/passthrough") }, 4},
	}
	const sessions = 10_000
	// The default (2 × GOMAXPROCS here) and the default of a 16-core host.
	poolShards := []int{0, 32}
	var shardRows, poolRows []string
	for _, g := range guests {
		t.Run(g.lang, func(t *testing.T) {
			wasm := g.build(t)
			var rounds [3]shardCost
			for i := range rounds {
				rounds[i] = measureShard(t, wasm, max(extra/g.div, 1))
				t.Logf("%s: round %d: per shard heap %s, RSS %s; per version heap %s, RSS %s", g.lang, i+1,
					kib(rounds[i].perShard.heap), kib(rounds[i].perShard.rss), kib(rounds[i].fixed.heap), kib(rounds[i].fixed.rss))
			}
			sh := medianCost(rounds[:])
			t.Logf("%s: module %d B; per shard: heap %s, RSS %s, linear memory %s; per plugin version (compiled module, runtime): heap %s, RSS %s",
				g.lang, len(wasm), kib(sh.perShard.heap), kib(sh.perShard.rss), kib(sh.linear), kib(sh.fixed.heap), kib(sh.fixed.rss))
			shardRows = append(shardRows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", g.lang, kib(int64(len(wasm))),
				kib(sh.linear), kib(sh.perShard.heap), kib(sh.perShard.rss), kib(sh.fixed.heap)))
			for _, n := range poolShards {
				pool := measurePool(t, wasm, n, sessions)
				t.Logf("%s: pool of %d shards, %d sessions: heap %s (shards %s, sessions %s), RSS %s; per session: heap %d B, RSS %d B",
					g.lang, pool.shards, sessions, mib(pool.total.heap), mib(pool.instances.heap), mib(pool.total.heap-pool.instances.heap),
					mib(pool.total.rss), pool.perSession.heap, pool.perSession.rss)
				poolRows = append(poolRows, fmt.Sprintf("| %s | %d | %s | %s | %d B | %s | %s |", g.lang, pool.shards,
					mib(pool.instances.heap), mib(pool.instances.rss), pool.perSession.heap,
					mib(pool.total.heap), mib(pool.total.rss)))
			}
		})
	}
	t.Logf("GOMAXPROCS=%d, %s/%s, %s\n\n"+
		"| guest | module | linear memory | heap / shard | RSS / shard | heap / version |\n|---|---:|---:|---:|---:|---:|\n%s\n\n"+
		"| guest | shards | shards' heap | shards' RSS | heap / session | pool heap @ %d sessions | pool RSS @ %d sessions |\n|---|---:|---:|---:|---:|---:|---:|\n%s",
		runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		strings.Join(shardRows, "\n"), sessions, sessions, strings.Join(poolRows, "\n"))
}

// medianCost takes the median of each figure over rounds.
func medianCost(rounds []shardCost) shardCost {
	med := func(get func(shardCost) int64) int64 {
		v := make([]int64, len(rounds))
		for i, r := range rounds {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return shardCost{
		perShard: memSample{med(func(c shardCost) int64 { return c.perShard.heap }), med(func(c shardCost) int64 { return c.perShard.rss })},
		fixed:    memSample{med(func(c shardCost) int64 { return c.fixed.heap }), med(func(c shardCost) int64 { return c.fixed.rss })},
		linear:   med(func(c shardCost) int64 { return c.linear }),
	}
}

// memSample is the live Go heap and the process's resident memory.
type memSample struct{ heap, rss int64 }

func (a memSample) sub(b memSample) memSample { return memSample{a.heap - b.heap, a.rss - b.rss} }
func (a memSample) div(n int) memSample       { return memSample{a.heap / int64(n), a.rss / int64(n)} }

// sample reads memory after two collections and after returning free pages
// to the OS, so that RSS follows what is live.
func sample(tb testing.TB) memSample {
	tb.Helper()
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: int64(ms.HeapAlloc), rss: rss(tb)}
}

// rss reads the resident set size from /proc/self/statm (Linux only).
func rss(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Skipf("no /proc/self/statm (Linux only): %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		tb.Fatalf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		tb.Fatalf("/proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}

type shardCost struct {
	perShard, fixed memSample
	linear          int64 // linear memory of one shard after a message
}

// measureShard loads the module with 1 shard, then with 1+n shards,
// beside it; the difference over n is the cost of one shard, and what is
// left of the first load is the per-version cost (compiled module,
// runtime, host modules). Each shard serves one session with a 1 KiB
// message each way first, so it holds its buffer.
func measureShard(t *testing.T, wasm []byte, n int) shardCost {
	t.Helper()
	h := newTestHost(t, HostOptions{Shards: 1, CallTimeout: time.Second, InitTimeout: 10 * time.Second})
	// The first load compiles; the cache keeps the code for the loads
	// measured, as it does for the gateway's shards.
	warm := mustLoadShards(t, h, wasm, 1)
	exercise(t, warm, 1, 1024)
	_ = warm.Release(context.Background())

	m0 := sample(t)
	one := mustLoadShards(t, h, wasm, 1)
	exercise(t, one, 1, 1024)
	m1 := sample(t)
	many := mustLoadShards(t, h, wasm, 1+n)
	exercise(t, many, 1+n, 1024)
	m2 := sample(t)

	st := many.Stats()
	if len(st.Shards) != 1+n {
		t.Fatalf("%d shards, want %d", len(st.Shards), 1+n)
	}
	for i, s := range st.Shards {
		if !s.Up || s.MemoryBytes == 0 {
			t.Fatalf("shard %d: up %v, %d bytes of linear memory", i, s.Up, s.MemoryBytes)
		}
	}
	var c shardCost
	d1, dn := m1.sub(m0), m2.sub(m1)
	c.perShard = dn.sub(d1).div(n)
	c.fixed = d1.sub(c.perShard)
	c.linear = int64(st.Shards[0].MemoryBytes)
	if c.perShard.heap < c.linear {
		t.Errorf("a shard costs %d B of heap, less than its %d B of linear memory: the measurement is off", c.perShard.heap, c.linear)
	}
	_ = many.Release(context.Background())
	_ = one.Release(context.Background())
	return c
}

func mustLoadShards(t *testing.T, h *Host, wasm []byte, n int) *Plugin {
	t.Helper()
	p, err := loadWithShards(h, wasm, n)
	if err != nil {
		t.Fatalf("load with %d shards: %v", n, err)
	}
	return p
}

// exercise opens n sessions at once (one per shard while the pool is
// empty), passes one message of size bytes each way through each and
// closes them.
func exercise(t *testing.T, p *Plugin, n, size int) {
	t.Helper()
	ss := newMeasureSessions(n)
	fs := openAll(t, p, ss, size)
	if st := p.Stats(); st.Sessions != n {
		t.Fatalf("%d sessions pinned, want %d", st.Sessions, n)
	}
	closeAll(fs, ss)
}

type poolCost struct {
	shards                       int
	total, instances, perSession memSample
}

// measurePool loads the module with shards instances (0: the default) and
// opens n sessions through it as the gateway does (NewFilter, handshake,
// open, one 64 B message each way), keeping them open: the total is what
// the plugin adds to the process. The gateway's own filters.Session values
// are made before the first sample: they are not the plugin's.
func measurePool(t *testing.T, wasm []byte, shards, n int) poolCost {
	t.Helper()
	h := newTestHost(t, HostOptions{Shards: shards, CallTimeout: time.Second, InitTimeout: 10 * time.Second})
	warm, err := h.Load(context.Background(), "mem", wasm, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = warm.Release(context.Background())
	ss := newMeasureSessions(n)

	m0 := sample(t)
	p, err := h.Load(context.Background(), "mem", wasm, nil)
	if err != nil {
		t.Fatal(err)
	}
	mLoaded := sample(t)
	fs := openAll(t, p, ss, 64)
	m1 := sample(t)

	st := p.Stats()
	if st.Sessions != n {
		t.Fatalf("%d sessions pinned, want %d", st.Sessions, n)
	}
	lo, hi := n, 0
	for _, s := range st.Shards {
		lo, hi = min(lo, s.Sessions), max(hi, s.Sessions)
	}
	if hi-lo > 1 {
		t.Errorf("sessions per shard from %d to %d: the pool should spread them evenly", lo, hi)
	}
	closeAll(fs, ss)
	if st := p.Stats(); st.Sessions != 0 {
		t.Errorf("%d sessions left pinned after closing all", st.Sessions)
	}
	_ = p.Release(context.Background())
	return poolCost{shards: len(st.Shards), total: m1.sub(m0), instances: mLoaded.sub(m0), perSession: m1.sub(mLoaded).div(n)}
}

type measureSession struct {
	s   *filters.Session
	rec *recorder
}

func newMeasureSessions(n int) []measureSession {
	ss := make([]measureSession, n)
	for i := range ss {
		rec := &recorder{}
		ss[i] = measureSession{rec: rec, s: filters.NewSession(filters.Session{
			ID:     uint64(i + 1),
			Route:  "bench",
			Remote: netip.MustParseAddrPort("192.0.2.7:41000"),
			Host:   "chat.example.com",
			Path:   "/ws",
		}, rec)}
	}
	return ss
}

// openAll runs each session through the hooks the gateway calls before
// and during relaying, and checks that the passthrough guest forwards
// every message unchanged.
func openAll(t *testing.T, p *Plugin, ss []measureSession, size int) []filters.Filter {
	t.Helper()
	ctx := context.Background()
	want := bytes.Repeat([]byte{0xa5}, size)
	payload := make([]byte, size)
	fs := make([]filters.Filter, len(ss))
	for i, ms := range ss {
		f, err := p.NewFilter(ctx, ms.s)
		if err != nil {
			t.Fatalf("session %d: NewFilter: %v", i, err)
		}
		fs[i] = f
		if err := f.(filters.Handshaker).OnHandshake(ctx, ms.s); err != nil {
			t.Fatalf("session %d: OnHandshake: %v", i, err)
		}
		if err := f.(filters.Opener).OnOpen(ctx, ms.s); err != nil {
			t.Fatalf("session %d: OnOpen: %v", i, err)
		}
		for _, dir := range []filters.Direction{filters.ClientToBackend, filters.BackendToClient} {
			copy(payload, want)
			m := &filters.Message{Dir: dir, Op: ws.OpBinary, Payload: payload, Fin: true}
			v, err := f.OnMessage(ctx, ms.s, m)
			if err != nil || v != filters.Continue || !bytes.Equal(m.Payload, want) {
				t.Fatalf("session %d: message %v: verdict %v, error %v, %d bytes out", i, dir, v, err, len(m.Payload))
			}
		}
	}
	return fs
}

func closeAll(fs []filters.Filter, ss []measureSession) {
	for i, f := range fs {
		f.(filters.Closer).OnClose(context.Background(), ss[i].s, 1000)
	}
}

func kib(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
