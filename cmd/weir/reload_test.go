package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/plugins/pluginstest"
)

// logBuffer collects the log of a run in process; the run writes from its
// own goroutines while the test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hasLine reports whether one line of the log holds every part.
func (b *logBuffer) hasLine(parts ...string) bool {
	for _, line := range strings.Split(b.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

// replaceFile writes data aside and renames it over path, the way deploy
// tools and editors replace a file.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// echoText opens a session, sends one lower-case text message and returns
// what came back (through the route's filter, twice: out and back).
func echoText(t *testing.T, c *websocket.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func dial(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// freshEcho is what a new session gets back for msg.
func freshEcho(t *testing.T, addr, msg string) string {
	t.Helper()
	c := dial(t, addr)
	got := echoText(t, c, msg)
	_ = c.Close(websocket.StatusNormalClosure, "")
	return got
}

var listeningRE = regexp.MustCompile(`msg=listening listener=public address=(\S+)`)

// The watcher end to end, in process: replacing a .wasm on disk switches new
// sessions to the new module without a signal while a live session stays on
// the old one; a broken module keeps the running one serving and the log
// says why; an edited configuration is reloaded and the module it names from
// then on is watched, even when it only appears after the configuration
// naming it was rejected.
func TestWatchReloadsChangedFiles(t *testing.T) {
	pass := pluginstest.C(t, "sdk/c/examples/passthrough.c")
	upper := pluginstest.C(t, "sdk/c/examples/uppercase.c")
	dir := t.TempDir()
	mod, mod2 := filepath.Join(dir, "filter.wasm"), filepath.Join(dir, "other.wasm")
	replaceFile(t, mod, pass)
	replaceFile(t, mod2, pass)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	writeConfig := func(module string) {
		replaceFile(t, cfgPath, []byte(fmt.Sprintf(`listeners: [{name: public, address: 127.0.0.1:0}]
admin: {address: ""}
plugins: {shards: 1}
reload: {interval: 20ms}
routes:
  - name: ws
    match: {path_prefix: /}
    backends: {members: [{address: builtin:echo}]}
    filters: [{wasm: %q}]
`, module)))
	}
	writeConfig(mod)

	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"run", "-c", cfgPath}, nil, &logBuffer{}, logs) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("run exited with %d\n%s", code, logs)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("run did not stop\n%s", logs)
		}
	}
	defer stop()

	var addr string
	waitFor(t, "the listener", func() bool {
		if m := listeningRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	old := dial(t, addr)
	if got := echoText(t, old, "abc"); got != "abc" {
		t.Fatalf("before any change: %q", got)
	}

	// A new module version, no signal.
	replaceFile(t, mod, upper)
	waitFor(t, "new sessions on the new module", func() bool { return freshEcho(t, addr, "abc") == "ABC" })
	if got := echoText(t, old, "abc"); got != "abc" {
		t.Fatalf("the live session left its module: %q", got)
	}
	if !strings.Contains(logs.String(), `trigger="file changed" files=[`+mod+`]`) {
		t.Fatalf("the log does not say which file changed:\n%s", logs)
	}

	// A broken module: rejected, the log says why, the running one serves.
	if err := os.WriteFile(mod, []byte("this is not WebAssembly"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rejection in the log", func() bool {
		return logs.hasLine("level=ERROR", "reload rejected", "filter.wasm", "invalid module")
	})
	if got := freshEcho(t, addr, "abc"); got != "ABC" {
		t.Fatalf("after a broken module: %q, want the running version's ABC", got)
	}

	// The configuration now names another module: that one is watched.
	writeConfig(mod2)
	waitFor(t, "new sessions on the configured module", func() bool { return freshEcho(t, addr, "abc") == "abc" })
	replaceFile(t, mod2, upper)
	waitFor(t, "a change of the newly named module", func() bool { return freshEcho(t, addr, "abc") == "ABC" })

	// A configuration naming a module that is not there yet is rejected;
	// providing the module reloads it.
	mod3 := filepath.Join(dir, "later.wasm")
	writeConfig(mod3)
	waitFor(t, "the rejection of the missing module", func() bool {
		return logs.hasLine("level=ERROR", "reload rejected", "routes[0].filters[0]", "later.wasm")
	})
	if got := freshEcho(t, addr, "abc"); got != "ABC" {
		t.Fatalf("after a rejected configuration: %q, want the running version's ABC", got)
	}
	replaceFile(t, mod3, pass)
	waitFor(t, "new sessions on the provided module", func() bool { return freshEcho(t, addr, "abc") == "abc" })

	if got := echoText(t, old, "abc"); got != "abc" {
		t.Fatalf("the first session left its module: %q", got)
	}
	_ = old.Close(websocket.StatusNormalClosure, "")
	stop()
	if !strings.Contains(logs.String(), "sections=[routes[ws]]") {
		t.Fatalf("the log does not name the changed section:\n%s", logs)
	}
}

func TestWatchedFiles(t *testing.T) {
	cfg := &config.Gateway{
		Listeners: []config.Listener{
			{Name: "plain"},
			{Name: "tls", TLS: &config.TLS{Certs: []config.CertPair{{Cert: "c.pem", Key: "k.pem"}}, ClientCA: "ca.pem"}},
		},
		Routes: []config.Route{
			{Filters: []config.Filter{{Wasm: "a.wasm"}, {Native: "size_limit"}, {Wasm: "b.wasm"}}},
			{Filters: []config.Filter{{Wasm: "a.wasm"}}},
		},
	}
	got := watchedFiles("gateway.yaml", cfg)
	if strings.Join(got, ",") != "gateway.yaml,c.pem,k.pem,ca.pem,a.wasm,b.wasm" {
		t.Fatalf("watched = %v", got)
	}
	if got := watchedFiles("", &config.Gateway{}); len(got) != 0 {
		t.Fatalf("embedded configuration: watched = %v", got)
	}
}
