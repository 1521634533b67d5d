package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weirproxy/weir/plugins/pluginstest"
)

// The example filters of examples/filters, one per guest language, run
// inside the weir binary: each test builds its filter from source (with
// plugins/pluginstest, which only drives the C, Go, Rust and AssemblyScript
// toolchains), writes a config whose routes chain it, and checks what a
// recording backend received and what the client got back.

// messages returns the texts received on path, once there are n of them.
func (b *goBackend) messages(path string, n int) []string {
	b.t.Helper()
	var got []string
	b.waitFor(fmt.Sprintf("%d messages on %s", n, path), func(msgs []received, _ []sessionEnd) bool {
		got = got[:0]
		for _, m := range msgs {
			if m.Path == path {
				got = append(got, m.Data)
			}
		}
		return len(got) >= n
	})
	return got
}

// ended waits for the end of the session on path and returns it.
func (b *goBackend) ended(path string) sessionEnd {
	b.t.Helper()
	var end sessionEnd
	b.waitFor("end of the session on "+path, func(_ []received, ends []sessionEnd) bool {
		for _, e := range ends {
			if e.Path == path {
				end = e
				return true
			}
		}
		return false
	})
	return end
}

// filterRoute is one route through a WASM filter to backend. extra holds
// more keys of the filter entry (YAML, indented by six spaces).
func filterRoute(name, prefix, wasm, backend, extra string) string {
	return fmt.Sprintf(`  - name: %s
    match: {path_prefix: %s}
    filters:
      - wasm: %q
%s    backends: {members: [{address: %q}]}
`, name, prefix, wasm, extra, backend)
}

// readmeRoute returns the route of the `gateway.yaml` snippet in the
// README of examples/filters/<dir>, pointed at wasm and backend: the README
// shows module path filters/<module> and backend 127.0.0.1:9001. So the
// configuration a user would copy is the one these tests run.
func readmeRoute(t *testing.T, dir, module, wasm, backend string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "examples", "filters", dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(b, []byte("```yaml\nroutes:\n"))
	block, _, ok2 := bytes.Cut(rest, []byte("```"))
	if !ok || !ok2 {
		t.Fatalf("%s/README.md: no ```yaml block starting with routes:", dir)
	}
	route := string(block)
	for old, repl := range map[string]string{
		"wasm: filters/" + module: "wasm: " + fmt.Sprintf("%q", wasm),
		"address: 127.0.0.1:9001": "address: " + fmt.Sprintf("%q", backend),
	} {
		if !bytes.Contains(block, []byte(old)) {
			t.Fatalf("%s/README.md: the route has no %q", dir, old)
		}
		route = strings.ReplaceAll(route, old, repl)
	}
	return route
}

// startFilters starts weir with routes and returns it.
func startFilters(t *testing.T, routes string) *weirProc {
	t.Helper()
	return startWeir(t, "run", "-c", writeConfig(t, t.TempDir(), gatewayYAML(routes)))
}

// dialHeader is dial with request headers.
func dialHeader(t testing.TB, url string, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		status := "no response"
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v (%s)", url, err, status)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// exchange sends one text message and returns the text that comes back.
func exchange(t testing.TB, c *websocket.Conn, msg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read the answer to %q: %v", msg, err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("answer to %q: %v message", msg, typ)
	}
	return string(got)
}

// closedWith sends msg and requires weir to close the session with code
// and reason, and the backend's leg to be closed with 1001 (the client's
// side of the session was ended by the gateway).
func closedWith(t testing.TB, c *websocket.Conn, b *goBackend, path, msg string, code websocket.StatusCode, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	if ce := readClose(t, c); ce.Code != code || ce.Reason != reason {
		t.Fatalf("after %q: client got close %d %q, want %d %q", msg, ce.Code, ce.Reason, code, reason)
	}
	if end := b.ended(path); end.Code != websocket.StatusGoingAway {
		t.Errorf("after %q: backend got close %d %q, want 1001", msg, end.Code, end.Reason)
	}
}

func closeNormally(t testing.TB, c *websocket.Conn) {
	t.Helper()
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestFilterPIIRedact runs the C example: addresses and card numbers are
// masked before the backend sees them (the README's route, directions:
// both), or only on their way to the client (directions:
// backend_to_client).
func TestFilterPIIRedact(t *testing.T) {
	wasm := pluginstest.WriteFile(t, "pii-redact.wasm", pluginstest.C(t, "examples/filters/pii-redact-c/filter.c"))
	b := startRecBackend(t)
	w := startFilters(t,
		readmeRoute(t, "pii-redact-c", "pii-redact.wasm", wasm, b.Addr())+
			filterRoute("pii-out", "/out", wasm, b.Addr(), "        directions: backend_to_client\n"))

	const raw = "mail ann@example.com, card 4111 1111 1111 1111 ✓"
	const masked = "mail ***@example.com, card **** **** **** 1111 ✓"

	both := dial(t, w.url("/chat/room"))
	if got := exchange(t, both, raw); got != masked {
		t.Errorf("both: client got %q, want %q", got, masked)
	}
	if got := b.messages("/chat/room", 1); got[0] != masked {
		t.Errorf("both: backend got %q, want %q", got[0], masked)
	}
	// Binary messages pass untouched.
	echo(t, both, websocket.MessageBinary, []byte("ann@example.com 4111111111111111"))
	closeNormally(t, both)

	out := dial(t, w.url("/out/chat"))
	if got := exchange(t, out, raw); got != masked {
		t.Errorf("backend_to_client: client got %q, want %q", got, masked)
	}
	if got := b.messages("/out/chat", 1); got[0] != raw {
		t.Errorf("backend_to_client: backend got %q, want it unchanged", got[0])
	}
	closeNormally(t, out)
	w.stop()
}

// TestFilterJSONAllowlist runs the Rust example: fields off the list are
// removed on the way in, and in strict mode a forbidden field or a message
// that is not a JSON object closes the session with 1008.
func TestFilterJSONAllowlist(t *testing.T) {
	wasm := pluginstest.WriteFile(t, "json-allowlist.wasm",
		pluginstest.Rust(t, "examples/filters/json-allowlist-rust", ""))
	b := startRecBackend(t)
	w := startFilters(t,
		readmeRoute(t, "json-allowlist-rust", "json_allowlist.wasm", wasm, b.Addr())+
			filterRoute("strict", "/strict", wasm, b.Addr(),
				"        config: {allow: [type, text], on_violation: close}\n        directions: client_to_backend\n"))

	// The README's route strips what is not on its list.
	strip := dial(t, w.url("/chat/a"))
	const want = `{"type":"say","room":"lobby","text":"hi"}`
	if got := exchange(t, strip, `{"type":"say","token":"s3cret","room":"lobby","text":"hi","admin":true}`); got != want {
		t.Errorf("client got %s, want %s", got, want)
	}
	if got := b.messages("/chat/a", 1); got[0] != want {
		t.Errorf("backend got %s, want %s", got[0], want)
	}
	closedWith(t, strip, b, "/chat/a", "not json", websocket.StatusPolicyViolation, "json-allowlist: not a JSON object")

	strict := dial(t, w.url("/strict/b"))
	if got := exchange(t, strict, `{"type":"chat"}`); got != `{"type":"chat"}` {
		t.Errorf("strict: client got %s", got)
	}
	closedWith(t, strict, b, "/strict/b", `{"type":"chat","admin":true}`, websocket.StatusPolicyViolation,
		"json-allowlist: field not allowed")
	if got := b.messages("/strict/b", 1); len(got) != 1 {
		t.Errorf("strict: backend got %q, want only the first message", got)
	}
	w.stop()
}

// TestFilterQuota runs the Go example with its README's route (20
// messages per 10 s): the 21st message closes the session with 1008 and
// the reason, which the client sees, and the backend never gets it. Each
// session has its own count.
func TestFilterQuota(t *testing.T) {
	wasm := pluginstest.WriteFile(t, "quota.wasm", pluginstest.Go(t, "examples/filters/quota-go"))
	b := startRecBackend(t)
	w := startFilters(t, readmeRoute(t, "quota-go", "quota.wasm", wasm, b.Addr()))

	const quota = 20
	for _, path := range []string{"/chat/a", "/chat/b"} {
		c := dial(t, w.url(path))
		for i := range quota {
			msg := fmt.Sprint("message ", i)
			if got := exchange(t, c, msg); got != msg {
				t.Fatalf("%s: echo %q, want %q", path, got, msg)
			}
		}
		closedWith(t, c, b, path, "one too many", websocket.StatusPolicyViolation, "quota exceeded")
		if got := b.messages(path, quota); len(got) != quota {
			t.Errorf("%s: backend got %d messages, want %d", path, len(got), quota)
		}
	}

	// The same through the ws npm client, a JavaScript implementation.
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node is not installed: skipping the ws client part")
	} else if rep := runNodeQuota(t, node, w.url("/chat/node")); rep.Echoes != quota || rep.Code != 1008 || rep.Reason != "quota exceeded" {
		t.Errorf("ws client: %+v, want %d echoes then close 1008 \"quota exceeded\"", rep, quota)
	}
	w.stop()
}

// nodeQuotaScript sends messages with the ws client, each after the echo
// of the one before, until the session closes (at most 1000), and prints
// how many echoes came back and the close it got.
const nodeQuotaScript = `
import WebSocket from "ws";
const ws = new WebSocket(process.argv[1]);
let echoes = 0;
const timer = setTimeout(() => { console.log(JSON.stringify({error: "deadline"})); process.exit(2); }, 20000);
ws.on("open", () => ws.send("message 0"));
ws.on("message", () => { echoes++; if (echoes < 1000) ws.send("message " + echoes); });
ws.on("close", (code, reason) => {
  clearTimeout(timer);
  console.log(JSON.stringify({echoes, code, reason: reason.toString()}));
});
ws.on("error", (err) => { console.log(JSON.stringify({error: String(err)})); process.exit(2); });
`

type nodeQuotaReport struct {
	Echoes int    `json:"echoes"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

func runNodeQuota(t *testing.T, node, url string) nodeQuotaReport {
	t.Helper()
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
		t.Fatalf("the ws package is not installed in %s: run `npm ci` there (tests/setup.sh does): %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Run from node/ so that the module resolves "ws" from its
	// node_modules.
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", nodeQuotaScript, url)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep nodeQuotaReport
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &rep); err != nil || runErr != nil || rep.Error != "" {
		t.Fatalf("ws client: %v, report %+v (%v)\nstdout:\n%s\nstderr:\n%s", runErr, rep, err, stdout.String(), stderr.String())
	}
	return rep
}

// TestFilterTag runs the AssemblyScript example with its README's route:
// every JSON object from the client reaches the backend stamped with the
// X-User of its session and a sequence number counted per session; a
// client cannot set those fields itself, and without the header the
// handshake is refused with 401.
func TestFilterTag(t *testing.T) {
	wasm := pluginstest.WriteFile(t, "tag.wasm", pluginstest.AssemblyScript(t, "examples/filters/tag-as/index.ts"))
	b := startRecBackend(t)
	w := startFilters(t, readmeRoute(t, "tag-as", "tag.wasm", wasm, b.Addr()))

	ann := dialHeader(t, w.url("/chat/ann"), http.Header{"X-User": {"ann"}})
	bob := dialHeader(t, w.url("/chat/bob"), http.Header{"X-User": {"bob"}})
	for _, step := range []struct {
		c        *websocket.Conn
		in, want string
	}{
		{ann, `{"msg":"hi"}`, `{"msg":"hi","user":"ann","seq":1}`},
		{bob, `{"msg":"hello"}`, `{"msg":"hello","user":"bob","seq":1}`},
		{ann, `{"msg":"how are you?"}`, `{"msg":"how are you?","user":"ann","seq":2}`},
		{ann, `not JSON passes as it is`, `not JSON passes as it is`},
		{ann, `{}`, `{"user":"ann","seq":3}`},
	} {
		// The echo does not pass the filter (client_to_backend): the
		// client sees what the backend received.
		if got := exchange(t, step.c, step.in); got != step.want {
			t.Errorf("%s: got %s, want %s", step.in, got, step.want)
		}
	}
	if got := b.messages("/chat/ann", 4); got[3] != `{"user":"ann","seq":3}` {
		t.Errorf("backend got %q", got)
	}
	closedWith(t, bob, b, "/chat/bob", `{"msg":"I am ann","user":"ann"}`, websocket.StatusPolicyViolation,
		"tag: message carries a reserved field")
	closeNormally(t, ann)

	if status, err := dialStatus(t, w.url("/chat/nobody")); status != http.StatusUnauthorized {
		t.Errorf("no X-User: status %d (%v), want 401", status, err)
	}
	w.stop()
}
