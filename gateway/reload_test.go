package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/native"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/internal/httphead"
	"github.com/weirproxy/weir/plugins"
)

// reloadRig runs a gateway whose route "ws" sends every message through one
// WASM filter to an echo backend, and reloads it between two builds of
// sdk/c/examples: passthrough and uppercase. A session tells which version
// it runs on by what comes back for lower-case text.
type reloadRig struct {
	t     *testing.T
	srv   *Server
	addr  string
	echo  string
	pass  string // module paths
	upper string
	extra string // YAML appended to every configuration

	mu      sync.Mutex
	loaded  []*plugins.Plugin // every version the gateway loaded
	loadErr error
}

func newReloadRig(t *testing.T, extra string) *reloadRig {
	t.Helper()
	r := &reloadRig{
		t:     t,
		echo:  startEcho(t),
		pass:  buildCFilter(t, "passthrough"),
		upper: buildCFilter(t, "uppercase"),
		extra: extra,
	}
	host, err := plugins.NewHost(context.Background(), plugins.HostOptions{Shards: 2, MemoryLimitBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	load := func(ctx context.Context, p string, c []byte) (filters.Factory, error) {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		pl, err := host.Load(ctx, p, wasm, c)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.loaded = append(r.loaded, pl)
		r.mu.Unlock()
		return pl, nil
	}
	reg, _ := filters.NewRegistry(native.All()...)
	base := leakBaseline()
	srv, err := New(context.Background(), r.config(r.pass), Deps{Filters: reg, LoadWasm: load})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.srv, r.addr = srv, srv.Addr("public").String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if n := r.liveVersions(); n != 0 {
			t.Errorf("%d plugin versions still open after Shutdown", n)
		}
		if err := host.Close(ctx); err != nil {
			t.Errorf("host Close: %v", err)
		}
		base.check(t)
	})
	return r
}

// config is the rig's configuration with the route's filter at wasm.
func (r *reloadRig) config(wasm string) *config.Gateway {
	r.t.Helper()
	yaml := fmt.Sprintf(`listeners: [{name: public, address: 127.0.0.1:0}]
admin: {address: ""}
routes:
  - name: ws
    match: {path_prefix: /}
    backends: {members: [{address: %q}]}
    filters:
      - wasm: %s
%s`, r.echo, wasm, r.extra)
	cfg, err := config.Load(config.LoadOptions{Data: []byte(yaml)})
	if err != nil {
		r.t.Fatal(err)
	}
	return cfg
}

// version k of the rig: even ones pass text through, odd ones upper-case it.
func (r *reloadRig) module(k int) string {
	if k%2 == 1 {
		return r.upper
	}
	return r.pass
}

func expected(k int, msg string) string {
	if k%2 == 1 {
		return strings.ToUpper(msg)
	}
	return msg
}

// liveVersions counts the plugin versions the gateway loaded that are not
// closed yet: a closed version has no instance left in any shard.
func (r *reloadRig) liveVersions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.loaded {
		for _, sh := range p.Stats().Shards {
			if sh.Up {
				n++
				break
			}
		}
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// wsSession is one client session and the version it must stay on.
type wsSession struct {
	id      int
	version int
	c       *websocket.Conn
	sent    int
}

func dialSession(addr string, id, version int) (*wsSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		return nil, fmt.Errorf("session %d: dial: %w", id, err)
	}
	return &wsSession{id: id, version: version, c: c}, nil
}

// roundTrip sends one lower-case text message and checks what the echo
// sends back through the session's filter version.
func (s *wsSession) roundTrip() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	msg := fmt.Sprintf("session %d message %d: hello weir", s.id, s.sent)
	s.sent++
	if err := s.c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return fmt.Errorf("session %d (version %d): write: %w", s.id, s.version, err)
	}
	typ, got, err := s.c.Read(ctx)
	if err != nil {
		return fmt.Errorf("session %d (version %d): read: %w", s.id, s.version, err)
	}
	if want := expected(s.version, msg); typ != websocket.MessageText || string(got) != want {
		return fmt.Errorf("session %d (version %d): got %q, want %q", s.id, s.version, got, want)
	}
	return nil
}

// Hundreds of live sessions keep messages flowing while the filter module
// is swapped 20 times: no session drops, every message comes back intact
// and rewritten by the version its session started on, and every new
// session gets the version installed just before it.
func TestReloadUnderLoad(t *testing.T) {
	const (
		initial   = 100
		reloads   = 20
		perReload = 5 // sessions opened after each reload: 200 in all
	)
	r := newReloadRig(t, "")

	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		errs    []error
		stop    = make(chan struct{})
		all     []*wsSession
		nextID  int
		flowing sync.WaitGroup // every session made its first round trip
		trips   atomic.Int64
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	// Each session sends until the reloads are over, then once more, so
	// that every one of them is checked after the last reload too.
	start := func(version int) {
		s, err := dialSession(r.addr, nextID, version)
		nextID++
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
		wg.Add(1)
		flowing.Add(1)
		go func() {
			defer wg.Done()
			err := s.roundTrip()
			flowing.Done()
			// Paced, so that 200 sessions keep messages flowing without
			// starving the reloads of CPU on a small machine.
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; err == nil && i < 100000; i++ {
				select {
				case <-stop:
					if err = s.roundTrip(); err != nil {
						fail(err)
					}
					return
				case <-tick.C:
				}
				err = s.roundTrip()
				trips.Add(1)
			}
			if err != nil {
				fail(err)
			}
		}()
	}
	for range initial {
		start(0)
	}
	flowing.Wait()
	tripsBefore := trips.Load()
	for k := 1; k <= reloads; k++ {
		if err := r.srv.Reload(context.Background(), r.config(r.module(k))); err != nil {
			t.Fatalf("reload %d: %v", k, err)
		}
		for range perReload {
			start(k)
		}
	}
	flowing.Wait()
	during := trips.Load() - tripsBefore
	close(stop)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	if n := r.srv.Sessions(); n != initial+reloads*perReload {
		t.Fatalf("live sessions = %d, want %d: some were dropped", n, initial+reloads*perReload)
	}
	total := 0
	for _, s := range all {
		total += s.sent
		if err := s.c.Close(websocket.StatusNormalClosure, "done"); err != nil {
			t.Errorf("session %d: close: %v", s.id, err)
		}
	}
	t.Logf("%d sessions, %d round trips, %d of them during %d reloads", len(all), total, during, reloads)
	if during < reloads {
		t.Errorf("only %d round trips while the reloads ran: messages were not flowing", during)
	}
	m := r.srv.Metrics()
	for _, leg := range []string{"client", "backend"} {
		for _, code := range []int{1001, 1011, 1012} {
			if n := m.CloseSent.Value(leg, strconv.Itoa(code)); n != 0 {
				t.Errorf("weir sent %d closes with %d to the %s leg", n, code, leg)
			}
		}
	}
	if n := m.FilterErrors.Value("ws"); n != 0 {
		t.Errorf("filter errors: %d", n)
	}
	// Each old version closes when its last session ended; only the
	// current one stays.
	waitFor(t, "old plugin versions to close", 10*time.Second, func() bool {
		return r.srv.Sessions() == 0 && r.liveVersions() == 1
	})
}

// residentBytes is the process's resident set size, from /proc/self/statm.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// settle collects garbage and returns memory to the OS, so that what is
// left is what is really held.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// 100 reloads, with a session held on the first version all along and
// short sessions on versions in between: goroutines and resident memory
// come back to where they were, and every replaced version is closed once
// its last session ended.
func TestReloadHundredTimesLeaksNothing(t *testing.T) {
	r := newReloadRig(t, "")
	// Warm up: the first reloads compile both modules into the cache and
	// grow the pools to their working size.
	for k := 1; k <= 20; k++ {
		if err := r.srv.Reload(context.Background(), r.config(r.module(k))); err != nil {
			t.Fatal(err)
		}
	}
	held, err := dialSession(r.addr, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer held.c.CloseNow()
	if err := held.roundTrip(); err != nil {
		t.Fatal(err)
	}
	settle()
	goroutines := r.srv.busyGoroutines()
	rss, haveRSS := residentBytes()

	const reloads = 100
	for k := 21; k < 21+reloads; k++ {
		if err := r.srv.Reload(context.Background(), r.config(r.module(k))); err != nil {
			t.Fatalf("reload %d: %v", k, err)
		}
		if k%10 == 0 {
			s, err := dialSession(r.addr, k, k)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.roundTrip(); err != nil {
				t.Fatal(err)
			}
			if err := s.c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The session held since version 4 is still on it.
	if err := held.roundTrip(); err != nil {
		t.Fatal(err)
	}
	// Two versions are open: the held session's and the current one.
	waitFor(t, "replaced versions without sessions to close", 10*time.Second, func() bool {
		return r.srv.Sessions() == 1 && r.liveVersions() == 2
	})
	if err := held.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held session's version to close", 10*time.Second, func() bool {
		return r.srv.Sessions() == 0 && r.liveVersions() == 1
	})

	waitFor(t, "goroutines back to the baseline", 10*time.Second, func() bool {
		return r.srv.busyGoroutines() <= goroutines
	})
	if haveRSS {
		settle()
		after, _ := residentBytes()
		// Measured on linux/amd64 with 2 cores: 100 reloads grow RSS by
		// about 1 MiB (4 to 8 MiB under -race, whose shadow memory grows
		// with the heap); the same reloads leaking every version grow it
		// by about 10 MiB (38 MiB under -race).
		slack := int64(6 << 20)
		if raceEnabled() {
			slack = 20 << 20
		}
		t.Logf("RSS: %d MiB before 100 reloads, %d MiB after; goroutines %d, now %d",
			rss>>20, after>>20, goroutines, runtime.NumGoroutine())
		if after > rss+slack {
			t.Fatalf("RSS grew by %d MiB over 100 reloads (before %d MiB, after %d MiB)", (after-rss)>>20, rss>>20, after>>20)
		}
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// reload.drain_timeout: sessions still on a replaced configuration that
// long after the reload get 1012 on both legs (a tunnel is hung up); a
// session that started after the reload is left alone.
func TestReloadDrainDeadline(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		type closeSeen struct {
			path string
			code ws.StatusCode
		}
		backendGot := make(chan closeSeen, 8)
		be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
			acceptUpgrade(c, req)
			for {
				f, err := ws.ReadFrame(br)
				if err != nil {
					return
				}
				f = ws.UnmaskFrameInPlace(f)
				switch f.Header.OpCode {
				case ws.OpClose:
					code, _ := closeOf(f)
					backendGot <- closeSeen{req.Target, code}
					_ = writeServerFrame(c, ws.OpClose, true, f.Payload)
					return
				case ws.OpText, ws.OpBinary:
					_ = writeServerFrame(c, f.Header.OpCode, true, f.Payload)
				}
			}
		})
		routes := fmt.Sprintf(`routes:
  - name: tunnel
    match: {path_prefix: /tunnel}
    relay: tunnel
    backends: {members: [{address: %[1]q}]}
  - name: ws
    match: {path_prefix: /}
    backends: {members: [{address: %[1]q}]}
`, be.addr())
		h := startGateway(t, routes, noPoll)

		old := dialRaw(t, h.addr)
		old.upgrade("/old")
		oldTunnel := dialRaw(t, h.addr)
		oldTunnel.upgrade("/tunnel")
		old.frame(ws.OpText, true, []byte("before"))
		if _, msg := old.readMessage(); string(msg) != "before" {
			t.Fatalf("echo = %q", msg)
		}

		cfg, err := config.Load(config.LoadOptions{Data: []byte(
			"listeners: [{name: public, address: 127.0.0.1:0}]\nadmin: {address: \"\"}\nreload: {drain_timeout: 100ms}\n" + routes)})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.srv.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		fresh := dialRaw(t, h.addr)
		fresh.upgrade("/new")

		if code, reason := old.expectClose(); code != statusServiceRestart || reason != "service restart" {
			t.Fatalf("old session got %d %q, want 1012", code, reason)
		}
		old.frame(ws.OpClose, true, closePayload(statusServiceRestart, ""))
		select {
		case got := <-backendGot:
			if got.path != "/old" || got.code != statusServiceRestart {
				t.Fatalf("backend got %d on %s, want 1012 on /old", got.code, got.path)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the old session's backend was not told")
		}
		oldTunnel.expectEOF()

		// Stopping the timers waits for the deadline's work to finish:
		// whatever it would close is closed by now.
		h.srv.reloadDrain.stop()
		if n := h.srv.Metrics().ReloadDrainClosed.Value(); n != 2 {
			t.Fatalf("reload drain closes = %d, want 2", n)
		}
		fresh.frame(ws.OpText, true, []byte("after"))
		if _, msg := fresh.readMessage(); string(msg) != "after" {
			t.Fatalf("new session echo = %q", msg)
		}
		select {
		case got := <-backendGot:
			t.Fatalf("backend got close %d on %s", got.code, got.path)
		default:
		}
		if n := h.srv.Metrics().CloseSent.Value("client", "1012"); n != 1 {
			t.Fatalf("1012 sent to clients: %d, want 1", n)
		}
	})
}

// Without a drain deadline (the default), a reload closes nothing, however
// long the old session lives: covered under load by TestReloadUnderLoad.
// Here: a reload after Shutdown started schedules nothing that outlives the
// server.
func TestReloadDrainStoppedByShutdown(t *testing.T) {
	h := startGateway(t, routeTo(startEcho(t), ""), false)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/x")
	cfg, err := config.Load(config.LoadOptions{Data: []byte(
		"listeners: [{name: public, address: 127.0.0.1:0}]\nadmin: {address: \"\"}\nreload: {drain_timeout: 1h}\n" + routeTo(startEcho(t), ""))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	h.srv.reloadDrain.mu.Lock()
	pending := len(h.srv.reloadDrain.timers)
	h.srv.reloadDrain.mu.Unlock()
	if pending != 1 {
		t.Fatalf("pending drain timers = %d, want 1", pending)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(ctx) }()
	if code, _ := rc.expectClose(); code != ws.StatusGoingAway {
		t.Fatalf("shutdown close = %d, want 1001 (not the reload's 1012)", code)
	}
	rc.frame(ws.OpClose, true, closePayload(ws.StatusGoingAway, ""))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.srv.reloadDrain.mu.Lock()
	pending = len(h.srv.reloadDrain.timers)
	h.srv.reloadDrain.mu.Unlock()
	if pending != 0 {
		t.Fatalf("drain timers left after Shutdown: %d", pending)
	}
	if n := h.srv.Metrics().ReloadDrainClosed.Value(); n != 0 {
		t.Fatalf("reload drain closes = %d", n)
	}
}

// A module that fails to load leaves the running version serving, and the
// error says which route, which filter and why.
func TestReloadBrokenModuleKeepsServing(t *testing.T) {
	r := newReloadRig(t, "")
	broken := filepath.Join(t.TempDir(), "broken.wasm")
	if err := os.WriteFile(broken, []byte("\x00asm but not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.srv.Reload(context.Background(), r.config(broken))
	if err == nil {
		t.Fatal("reload with a broken module succeeded")
	}
	if !errors.Is(err, plugins.ErrInvalidModule) || !strings.Contains(err.Error(), "routes[0].filters[0]") {
		t.Fatalf("error = %v, want ErrInvalidModule at routes[0].filters[0]", err)
	}
	s, err := dialSession(r.addr, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.c.CloseNow()
	if err := s.roundTrip(); err != nil {
		t.Fatal(err)
	}
	if n := r.liveVersions(); n != 1 {
		t.Fatalf("live versions = %d, want 1: the failed load left something open", n)
	}
	_ = s.c.Close(websocket.StatusNormalClosure, "")
}
