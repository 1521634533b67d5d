package gateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/native"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/plugins"
	"github.com/weirproxy/weir/plugins/pluginstest"
)

// buildCFilter compiles a C filter of sdk/c/examples (once per test
// binary) and writes it into the test's temporary directory.
func buildCFilter(t *testing.T, name string) string {
	t.Helper()
	return pluginstest.WriteFile(t, name+".wasm", pluginstest.C(t, "sdk/c/examples/"+name+".c"))
}

// wasmGateway runs a gateway whose route "ws" passes messages through the
// WASM module at path, to the echo backend.
func wasmGateway(t *testing.T, path string) (*harness, *config.Gateway) {
	t.Helper()
	// A call bound of 1 s instead of 10 ms: these tests check what reaches
	// the other side, and under the race detector the host side of a 1 MiB
	// message through the Go guest takes 7-22 ms (plugins tests the bound).
	host, err := plugins.NewHost(context.Background(), plugins.HostOptions{Shards: 2, MaxMessageBytes: 17 << 20, MemoryLimitBytes: 64 << 20, CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`listeners: [{name: public, address: 127.0.0.1:0}]
admin: {address: ""}
routes:
  - name: ws
    match: {path_prefix: /}
    limits: {max_message_bytes: 16MiB, max_frame_bytes: 16MiB}
    backends: {members: [{address: %q}]}
    filters:
      - wasm: %s
`, startEcho(t), path)
	cfg, err := config.Load(config.LoadOptions{Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := filters.NewRegistry(native.All()...)
	load := func(ctx context.Context, p string, c []byte) (filters.Factory, error) {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		return host.Load(ctx, p, wasm, c)
	}
	base := leakBaseline()
	srv, err := New(context.Background(), cfg, Deps{Filters: reg, LoadWasm: load})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := host.Close(ctx); err != nil {
			t.Errorf("host Close: %v", err)
		}
		base.check(t)
	})
	return &harness{t: t, srv: srv, addr: srv.Addr("public").String()}, cfg
}

func dialWS(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(32 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func echoOnce(t *testing.T, c *websocket.Conn, typ websocket.MessageType, msg []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Write(ctx, typ, msg); err != nil {
		t.Fatal(err)
	}
	gt, got, err := c.Read(ctx)
	if err != nil || gt != typ {
		t.Fatalf("read: %v %v", gt, err)
	}
	return got
}

// D-01 through a pass-through WASM filter of every SDK: SHA-256 equal for
// every size, text and binary. C goes to 16 MiB; the other guests to 1 MiB,
// which is enough to cross every buffer boundary of their SDKs and keeps
// the Go guest's run short under the race detector.
func TestWasmPassthroughIntegrity(t *testing.T) {
	for _, g := range []struct {
		lang  string
		build func(testing.TB) []byte
		max   int
	}{
		{"c", func(tb testing.TB) []byte { return pluginstest.C(tb, "sdk/c/examples/passthrough.c") }, 16 << 20},
		{"go", func(tb testing.TB) []byte { return pluginstest.Go(tb, "sdk/go/examples/passthrough") }, 1 << 20},
		{"rust", func(tb testing.TB) []byte { return pluginstest.Rust(tb, "sdk/rust", "passthrough") }, 1 << 20},
		{"assemblyscript", func(tb testing.TB) []byte {
			return pluginstest.AssemblyScript(tb, "sdk/assemblyscript/examples/passthrough/index.ts")
		}, 1 << 20},
	} {
		t.Run(g.lang, func(t *testing.T) {
			testPassthroughIntegrity(t, pluginstest.WriteFile(t, "passthrough.wasm", g.build(t)), g.max)
		})
	}
}

func testPassthroughIntegrity(t *testing.T, path string, maxSize int) {
	h, _ := wasmGateway(t, path)
	c := dialWS(t, h.addr)
	for _, size := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20} {
		if size > maxSize {
			continue
		}
		for _, typ := range []websocket.MessageType{websocket.MessageBinary, websocket.MessageText} {
			msg := make([]byte, size)
			for i := range msg {
				msg[i] = byte('a' + i%26)
			}
			if typ == websocket.MessageBinary {
				for i := range msg {
					msg[i] = byte(i * 31)
				}
			}
			if got := echoOnce(t, c, typ, msg); sha256.Sum256(got) != sha256.Sum256(msg) {
				t.Fatalf("size %d type %v: hash differs (%d bytes back)", size, typ, len(got))
			}
		}
	}
}

// A WASM filter rewrites messages both ways (the echo sends the rewritten
// text back through the filter again).
func TestWasmUppercase(t *testing.T) {
	h, _ := wasmGateway(t, buildCFilter(t, "uppercase"))
	c := dialWS(t, h.addr)
	if got := echoOnce(t, c, websocket.MessageText, []byte("hello, weir ü")); string(got) != "HELLO, WEIR ü" {
		t.Fatalf("got %q", got)
	}
	if got := echoOnce(t, c, websocket.MessageBinary, []byte("abc")); string(got) != "abc" {
		t.Fatalf("binary rewritten: %q", got)
	}
}

// Hot reload: a new module version takes new sessions; live sessions stay
// on the version they started with and are never dropped.
func TestWasmHotReload(t *testing.T) {
	pass, upper := buildCFilter(t, "passthrough"), buildCFilter(t, "uppercase")
	path := filepath.Join(t.TempDir(), "filter.wasm")
	copyFile(t, pass, path)
	h, cfg := wasmGateway(t, path)
	old := dialWS(t, h.addr)
	if got := echoOnce(t, old, websocket.MessageText, []byte("abc")); string(got) != "abc" {
		t.Fatalf("before reload: %q", got)
	}
	copyFile(t, upper, path)
	for i := 0; i < 20; i++ { // many reloads: nothing may leak or drop
		if err := h.srv.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	fresh := dialWS(t, h.addr)
	if got := echoOnce(t, fresh, websocket.MessageText, []byte("abc")); string(got) != "ABC" {
		t.Fatalf("new session after reload: %q, want the new version's ABC", got)
	}
	if got := echoOnce(t, old, websocket.MessageText, []byte("abc")); string(got) != "abc" {
		t.Fatalf("old session after reload: %q, want the old version's abc", got)
	}
	// A module that fails to load leaves the current version serving.
	if err := os.WriteFile(path, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(context.Background(), cfg); err == nil {
		t.Fatal("reload with an invalid module succeeded")
	}
	again := dialWS(t, h.addr)
	if got := echoOnce(t, again, websocket.MessageText, []byte("abc")); string(got) != "ABC" {
		t.Fatalf("after a failed reload: %q", got)
	}
	old.Close(websocket.StatusNormalClosure, "")
	fresh.Close(websocket.StatusNormalClosure, "")
	again.Close(websocket.StatusNormalClosure, "")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A reload tells the replaced version's sessions (weir_on_drain). The test
// guest asks to close those with odd session ids: they get 1012 (service
// restart), the others stay on the old version and keep answering.
func TestWasmDrainHook(t *testing.T) {
	path := pluginstest.WriteFile(t, "hostcalls.wasm", pluginstest.C(t, "plugins/testdata/hostcalls.c"))
	h, cfg := wasmGateway(t, path)
	type result struct {
		msg []byte
		err error
	}
	const n = 4
	conns := make([]*websocket.Conn, n)
	got := make([]chan result, n)
	for i := range conns {
		conns[i] = dialWS(t, h.addr)
		got[i] = make(chan result, 8)
		go func(c *websocket.Conn, out chan<- result) {
			for {
				_, msg, err := c.Read(context.Background())
				out <- result{msg, err}
				if err != nil {
					return
				}
			}
		}(conns[i], got[i])
	}
	ask := func(i int) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = conns[i].Write(ctx, websocket.MessageText, []byte("sessions"))
		select {
		case r := <-got[i]:
			return r
		case <-ctx.Done():
			t.Fatalf("session %d: no answer and no close", i)
			return result{}
		}
	}
	for i := range conns {
		if r := ask(i); r.err != nil {
			t.Fatalf("session %d before reload: %v", i, r.err)
		}
	}
	if err := h.srv.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	closed, alive := 0, 0
	deadline := time.After(10 * time.Second)
	for i := range conns {
		select {
		case r := <-got[i]: // something arrived unasked: it must be the drain's close
			if websocket.CloseStatus(r.err) != websocket.StatusCode(statusServiceRestart) {
				t.Fatalf("session %d after reload: %q %v, want close 1012", i, r.msg, r.err)
			}
			closed++
			continue
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatal("timed out")
		}
		switch r := ask(i); {
		case r.err == nil:
			alive++
		case websocket.CloseStatus(r.err) == websocket.StatusCode(statusServiceRestart):
			closed++
		default:
			t.Fatalf("session %d after reload: %v", i, r.err)
		}
	}
	if closed == 0 || alive == 0 {
		t.Fatalf("after reload: %d sessions closed with 1012 and %d kept; want some of each (odd ids close)", closed, alive)
	}
	for _, c := range conns {
		c.Close(websocket.StatusNormalClosure, "")
	}
}

// W-01, W-02, W-03 through the gateway: a filter that loops, traps or
// grows its memory without end costs its session a 1011 (never a hang or a
// crash of weir), its memory stops at the configured cap, and new sessions
// are served by a fresh instance afterwards.
func TestWasmMisbehavingFilter(t *testing.T) {
	path := pluginstest.WriteFile(t, "misbehave.wasm", pluginstest.C(t, "plugins/testdata/misbehave.c"))
	h, _ := wasmGateway(t, path)
	expect1011 := func(cmd string) {
		t.Helper()
		c := dialWS(t, h.addr)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Write(ctx, websocket.MessageText, []byte(cmd)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.Read(ctx)
		if websocket.CloseStatus(err) != websocket.StatusInternalError {
			t.Fatalf("%q: got %q, %v; want close 1011", cmd, msg, err)
		}
	}
	for _, cmd := range []string{
		"u", // unreachable: a trap
		"d", // divide by zero
		"o", // out-of-bounds load
		"s", // stack overflow
		"l", // an endless loop, cut at the call bound (W-01)
	} {
		expect1011(cmd)
		// A fresh instance serves the next session.
		c := dialWS(t, h.addr)

		if got := echoOnce(t, c, websocket.MessageText, []byte("hello")); string(got) != "hello" {
			t.Fatalf("after %q: %q", cmd, got)
		}
		c.Close(websocket.StatusNormalClosure, "")
	}
	// W-02: growth stops at the memory cap (64 MiB here, 1024 pages).
	c := dialWS(t, h.addr)
	got := echoOnce(t, c, websocket.MessageText, []byte("g"))
	pages, err := strconv.Atoi(string(got))
	if err != nil || pages <= 0 || pages > 1024 {
		t.Fatalf("memory grew to %q pages; want a number up to the 1024-page cap", got)
	}
	c.Close(websocket.StatusNormalClosure, "")
}
