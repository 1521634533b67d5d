package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// demoArgs run the embedded demo configuration on port 0 with JSON logs.
var demoArgs = []string{
	"--set", "listeners.0.address=127.0.0.1:0",
	"--set", "admin.address=127.0.0.1:0",
	"--set", "telemetry.logs.format=json",
}

// startDemo runs weir with no -c: the embedded demo (page at /, builtin
// echo at /echo).
func startDemo(t testing.TB) *weirProc {
	t.Helper()
	return startWeir(t, demoArgs...)
}

// dialStatus tries a WebSocket handshake and returns the HTTP status weir
// answered with (0 when no HTTP answer came, for example a refused
// connection). A successful dial is closed and reported as 101.
func dialStatus(t testing.TB, url string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err == nil {
		_ = c.CloseNow()
		return http.StatusSwitchingProtocols, nil
	}
	if resp != nil {
		return resp.StatusCode, err
	}
	return 0, err
}

// TestReload checks that a reload — SIGHUP or POST /reload — takes effect
// for new sessions while live sessions keep working, and that a broken
// config is refused with the running one left in force.
func TestReload(t *testing.T) {
	b := startBackend(t)
	dir := t.TempDir()
	// v1 routes to builtin:echo already, so the built-in backend (a
	// listener and its goroutine, kept for the process's life) exists
	// before the baseline that stop compares with.
	v1 := fmt.Sprintf(`  - name: frames
    match: {path_prefix: /f}
    backends: {members: [{address: "%s"}]}
  - name: builtin
    match: {path_prefix: /b}
    backends: {members: [{address: "builtin:echo"}]}
`, b.Addr())
	v2 := v1 + `  - name: v2
    match: {path_prefix: /v2}
    backends: {members: [{address: "builtin:echo"}]}
`
	v3 := v2 + fmt.Sprintf(`  - name: v3
    match: {path_prefix: /v3}
    backends: {members: [{address: "%s"}]}
`, b.Addr())
	cfg := writeConfig(t, dir, gatewayYAML(v1))
	// The form without the run subcommand.
	w := startWeir(t, "-c", cfg)

	// Sessions opened in subtests belong to the whole test: they must live
	// through the later reloads, so they are dialled with top.
	top := t
	var live []*websocket.Conn
	for range 3 {
		c := dial(t, w.url("/f/live"))
		echo(t, c, websocket.MessageText, []byte("before reload"))
		live = append(live, c)
	}
	checkLive := func(t *testing.T, label string) {
		t.Helper()
		for i, c := range live {
			echo(t, c, websocket.MessageBinary, []byte(fmt.Sprintf("%s, session %d", label, i)))
		}
	}
	if status, _ := dialStatus(t, w.url("/v2/echo")); status != http.StatusNotFound {
		t.Fatalf("before the reload /v2 answered %d, want 404 (no route)", status)
	}

	t.Run("SIGHUP", func(t *testing.T) {
		replaceFile(t, cfg, gatewayYAML(v2))
		mark := w.mark()
		w.signal(syscall.SIGHUP)
		w.waitLog("configuration reloaded", eventTimeout, mark, isMsg("configuration reloaded"))
		checkLive(t, "after SIGHUP")
		live = append(live, dial(top, w.url("/v2/echo")))
		checkLive(t, "new route")
		w.alive()
	})

	t.Run("SIGHUP-broken-config", func(t *testing.T) {
		replaceFile(t, cfg, gatewayYAML(v3)+"    relay: sideways\n")
		mark := w.mark()
		w.signal(syscall.SIGHUP)
		w.waitLog("the reload refusal", eventTimeout, mark, func(r logRecord) bool {
			return r.str("level") == "ERROR" && strings.HasPrefix(r.str("msg"), "reload rejected")
		})
		checkLive(t, "after a refused reload")
		// The refused config's new route must not exist.
		if status, _ := dialStatus(t, w.url("/v3/echo")); status != http.StatusNotFound {
			t.Errorf("after a refused reload /v3 answered %d, want 404", status)
		}
		w.alive()
	})

	t.Run("POST-reload", func(t *testing.T) {
		replaceFile(t, cfg, gatewayYAML(v3))
		if status, body := httpDo(t, http.MethodPost, "http://"+w.admin+"/reload"); status != http.StatusOK {
			t.Fatalf("POST /reload: %d %s", status, body)
		}
		live = append(live, dial(top, w.url("/v3/echo")))
		checkLive(t, "after POST /reload")
		w.alive()
	})

	t.Run("POST-reload-broken-config", func(t *testing.T) {
		replaceFile(t, cfg, "listeners: [")
		if status, body := httpDo(t, http.MethodPost, "http://"+w.admin+"/reload"); status < 400 {
			t.Fatalf("POST /reload of a broken config: %d %s, want an error status", status, body)
		}
		checkLive(t, "after a refused POST /reload")
		w.alive()
	})

	// Live sessions end cleanly.
	for _, c := range live {
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	w.stop()
}

func isMsg(msg string) func(logRecord) bool {
	return func(r logRecord) bool { return r.str("msg") == msg }
}

// closeResult is what a reader goroutine saw.
type closeResult struct {
	code   websocket.StatusCode
	reason string
	err    error
}

// awaitClose reads c until it ends, in a goroutine, and reports the Close
// the peer sent.
func awaitClose(c *websocket.Conn) <-chan closeResult {
	out := make(chan closeResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
		defer cancel()
		for i := 0; i < 1000; i++ {
			_, _, err := c.Read(ctx)
			if err == nil {
				continue
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				out <- closeResult{code: ce.Code, reason: ce.Reason}
			} else {
				out <- closeResult{code: -1, err: err}
			}
			return
		}
		out <- closeResult{code: -1, err: errors.New("more than 1000 messages before the close")}
	}()
	return out
}

// TestDrain is G-01 through the binary: on SIGTERM readiness flips, new
// connections are refused, every live session gets Close 1001 on both legs
// (also a client that never reads, once weir's close timeout cuts it), and
// weir exits 0.
func TestDrain(t *testing.T) {
	b := startBackend(t)
	cfg := writeConfig(t, t.TempDir(), gatewayYAML(fmt.Sprintf(`  - name: frames
    match: {path_prefix: /f}
    backends: {members: [{address: "%s"}]}
`, b.Addr())))
	w := startWeir(t, "run", "-c", cfg)

	const active = 3
	var conns []*websocket.Conn
	for i := range active + 1 {
		c := dial(t, w.url("/f/session-"+strconv.Itoa(i)))
		echo(t, c, websocket.MessageText, []byte("hello"))
		conns = append(conns, c)
	}
	// The last client stays silent: it never reads, so it never answers
	// weir's Close, and weir must cut it after the close timeout. It also
	// keeps the drain open long enough to watch readiness.
	silent := conns[active]
	if status, body := w.adminGet("/readyz"); status != http.StatusOK {
		t.Fatalf("/readyz before the drain: %d %s", status, body)
	}
	var results []<-chan closeResult
	for _, c := range conns[:active] {
		results = append(results, awaitClose(c))
	}

	w.signal(syscall.SIGTERM)

	// Readiness flips to 503 while the drain runs.
	ready := pollUntil(t, "readiness to report 503", func() (bool, error) {
		status, _, err := tryHTTP(http.MethodGet, "http://"+w.admin+"/readyz")
		if err != nil {
			return false, fmt.Errorf("admin API stopped answering before /readyz reported 503: %w", err)
		}
		return status == http.StatusServiceUnavailable, nil
	})
	if !ready {
		return
	}
	// A new client is refused: no 101 once the drain has begun.
	if status, err := dialStatus(t, w.url("/f/late")); status != 0 && status != http.StatusServiceUnavailable {
		t.Errorf("a new connection during the drain got %d (%v), want refused or 503", status, err)
	}

	for i, ch := range results {
		r := <-ch
		if r.code != websocket.StatusGoingAway {
			t.Errorf("client %d: close %d %q (%v), want 1001", i, r.code, r.reason, r.err)
		}
	}
	w.waitExit()

	// What weir sent the silent client is waiting in its socket.
	if r := <-awaitClose(silent); r.code != websocket.StatusGoingAway {
		t.Errorf("silent client: close %d %q (%v), want 1001", r.code, r.reason, r.err)
	}
	for _, e := range b.waitEnds(active + 1) {
		if e.Code != websocket.StatusGoingAway {
			t.Errorf("backend session %s: close %d %q, want 1001", e.Path, e.Code, e.Reason)
		}
	}
}

// pollUntil calls cond every few milliseconds until it reports true, fails,
// or eventTimeout passes; it reports whether cond became true.
func pollUntil(t testing.TB, what string, cond func() (bool, error)) bool {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Errorf("waiting for %s: %v", what, err)
			return false
		}
		if ok {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("waiting for %s: not within %v", what, eventTimeout)
			return false
		}
		<-tick.C
	}
}

// TestAdmin checks the admin API of the demo: health, readiness and the
// Prometheus text, which counts the session just made.
func TestAdmin(t *testing.T) {
	w := startDemo(t)
	c := dial(t, w.url("/echo"))
	echo(t, c, websocket.MessageText, []byte("count me"))
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	for _, ep := range []struct {
		path string
		want int
	}{
		{"/healthz", http.StatusOK},
		{"/readyz", http.StatusOK},
		{"/metrics", http.StatusOK},
		{"/no-such-endpoint", http.StatusNotFound},
	} {
		t.Run(strings.TrimPrefix(ep.path, "/"), func(t *testing.T) {
			status, body := w.adminGet(ep.path)
			if status != ep.want {
				t.Fatalf("GET %s: %d %q, want %d", ep.path, status, body, ep.want)
			}
			if ep.path == "/metrics" {
				checkMetrics(t, body)
			}
			w.alive()
		})
	}
	w.stop()
}

// checkMetrics requires Prometheus text with TYPE lines and a sessions
// counter for the demo's echo route of at least 1.
func checkMetrics(t *testing.T, body string) {
	t.Helper()
	if !strings.Contains(body, "# TYPE ") {
		t.Fatalf("/metrics has no # TYPE line:\n%s", body)
	}
	const series = `weir_sessions_total{route="echo"} `
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series); ok {
			if n, err := strconv.ParseFloat(v, 64); err != nil || n < 1 {
				t.Errorf("%s%s: want a count >= 1", series, v)
			}
			return
		}
	}
	t.Errorf("/metrics has no %s line:\n%s", strings.TrimSpace(series), body)
}

// TestDemoEnvOverrides runs the embedded demo configured only through WEIR_
// variables: the page is served at / and the echo works at /echo.
func TestDemoEnvOverrides(t *testing.T) {
	w := startWeirEnv(t, []string{
		"WEIR_LISTENERS_0_ADDRESS=127.0.0.1:0",
		"WEIR_ADMIN_ADDRESS=127.0.0.1:0",
		"WEIR_TELEMETRY_LOGS_FORMAT=json",
	}, "run")
	status, body := httpDo(t, http.MethodGet, "http://"+w.addr("public")+"/")
	if status != http.StatusOK || !strings.Contains(body, `id="log"`) || !strings.Contains(body, `id="status"`) {
		t.Fatalf("GET /: %d, want 200 with the demo page:\n%s", status, body)
	}
	c := dial(t, w.url("/echo"))
	echo(t, c, websocket.MessageText, []byte("hello, demo"))
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	w.stop()
}

// runWeir runs a short weir command to completion (bounded) and returns its
// exit code and combined output.
func runWeir(t testing.TB, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, weirBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), out.String()
	}
	t.Fatalf("weir %s: %v\n%s", strings.Join(args, " "), err, out.String())
	return -1, ""
}

// brokenConfig has one error of each kind the loader reports at once:
// a bad address, an unknown key, a bad duration, a bad enum value, a path
// without its slash and a backend address without a port.
const brokenConfig = `listeners:
  - name: public
    address: nowhere
server:
  max_conections: 5
  drain_timeout: soon
routes:
  - name: r
    match: {path: echo}
    relay: sideways
    backends:
      members:
        - address: "127.0.0.1"
`

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, t.TempDir(), gatewayYAML(`  - name: echo
    match: {path_prefix: /echo}
    backends: {members: [{address: "builtin:echo"}]}
`))
	bad := writeConfig(t, dir, brokenConfig)
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		// wantPaths are the keys the output must name, one "path: message"
		// line each.
		wantPaths []string
	}{
		{name: "valid", args: []string{"validate", "-c", good}, wantCode: 0},
		{name: "embedded-default", args: []string{"validate"}, wantCode: 0},
		{
			name: "broken", args: []string{"validate", "-c", bad}, wantCode: 1,
			wantPaths: []string{
				"listeners[0].address",
				"server.max_conections",
				"server.drain_timeout",
				"routes[0].match.path",
				"routes[0].relay",
				"routes[0].backends.members[0].address",
			},
		},
		{
			name: "set-override", args: []string{"validate", "-c", good, "--set", "routes.0.relay=sideways"}, wantCode: 1,
			wantPaths: []string{"routes[0].relay"},
		},
		{
			name: "env-override", env: []string{"WEIR_SERVER_MAX_CONNECTIONS=0"}, args: []string{"validate", "-c", good}, wantCode: 1,
			wantPaths: []string{"server.max_connections"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runWeir(t, tc.env, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.wantCode, out)
			}
			for _, p := range tc.wantPaths {
				if !hasPathLine(out, p) {
					t.Errorf("no %q line in:\n%s", p+": …", out)
				}
			}
		})
	}
}

// hasPathLine reports whether some line of out is "path: message".
func hasPathLine(out, path string) bool {
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), path+": "); ok && rest != "" {
			return true
		}
	}
	return false
}

func TestVersion(t *testing.T) {
	code, out := runWeir(t, nil, "version")
	if code != 0 || strings.TrimSpace(out) != "weir "+testVersion {
		t.Fatalf("weir version: exit %d, output %q; want 0 and %q", code, out, "weir "+testVersion)
	}
}
