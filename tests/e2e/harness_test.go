package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Bounds for waiting on the weir process. They are deadlines for polls, not
// expectations: a healthy run meets each in a small fraction of it, and no
// test asserts how long anything took.
const (
	// startTimeout bounds the wait for the listeners' log lines; it covers
	// a -race binary starting on a loaded 2-core machine.
	startTimeout = 20 * time.Second
	// eventTimeout bounds any other wait for a log line or a condition.
	eventTimeout = 20 * time.Second
	// exitTimeout bounds the wait for exit after SIGTERM. Test configs
	// set server.drain_timeout to testDrainTimeout, well under it.
	exitTimeout = 30 * time.Second
)

// testDrainTimeout and testCloseTimeout are the server.drain_timeout and
// server.close_timeout of every test config: short enough that a test which
// leaves a peer silent still ends quickly, long enough that no drain is cut
// short on a slow machine.
const (
	testDrainTimeout = "10s"
	testCloseTimeout = "3s"
)

// logRecord is one JSON log line of weir (slog's JSON handler).
type logRecord map[string]any

func (r logRecord) str(key string) string {
	s, _ := r[key].(string)
	return s
}

// logSink collects weir's stderr: every line for failure messages, and the
// JSON ones parsed for the tests to wait on. It is an io.Writer given to
// exec.Cmd, which calls it from one goroutine; readers take the lock.
type logSink struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	records []logRecord
	// changed is closed and replaced whenever a record is added, so that
	// a waiter can block on it instead of polling on a timer.
	changed chan struct{}
}

func newLogSink() *logSink { return &logSink{changed: make(chan struct{})} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := string(s.partial[:i])
		s.partial = s.partial[i+1:]
		s.lines = append(s.lines, line)
		var rec logRecord
		if json.Unmarshal([]byte(line), &rec) == nil {
			s.records = append(s.records, rec)
			added = true
		}
	}
	if added {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return len(p), nil
}

// snapshot returns the records from index from on, the total count, and the
// channel that is closed at the next change.
func (s *logSink) snapshot(from int) ([]logRecord, int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logRecord
	if from < len(s.records) {
		out = append(out, s.records[from:]...)
	}
	return out, len(s.records), s.changed
}

// text is everything weir wrote to stderr so far, for failure messages.
func (s *logSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n") + string(s.partial)
}

// weirProc is one running weir process.
type weirProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	logs   *logSink
	exited chan struct{} // closed once cmd.Wait returned
	state  *os.ProcessState
	// stopping is set once the test sent the signal that ends the
	// process; until then an exit is a failure.
	stopping bool

	// listeners maps a listener's name to the address weir logged for it.
	listeners map[string]string
	// admin is the admin API's address ("" when it is disabled).
	admin string

	// baseFDs and baseGoroutines are weir's open files and goroutines
	// once it was ready, before any session; stop requires both back at
	// or under these once the test's sessions are gone.
	baseFDs, baseGoroutines int
}

// startWeir runs the weir binary with args and waits until it logged every
// listener and its admin API. That is weir's whole readiness contract: from
// then on it serves, answers the admin API and handles SIGHUP and SIGTERM,
// so the tests signal it without further waiting. The process is killed by
// PID when the test ends if the test did not stop it.
func startWeir(t testing.TB, args ...string) *weirProc {
	t.Helper()
	return startWeirEnv(t, nil, args...)
}

// startWeirEnv is startWeir with extra environment variables (WEIR_…
// overrides). The test process's own WEIR_ variables are not passed on, so
// a developer's shell cannot change what a test runs.
func startWeirEnv(t testing.TB, env []string, args ...string) *weirProc {
	t.Helper()
	w := &weirProc{t: t, logs: newLogSink(), exited: make(chan struct{}), listeners: map[string]string{}}
	w.cmd = exec.Command(weirBin, args...)
	w.cmd.Env = append(cleanEnv(), env...)
	w.cmd.Stdout = w.logs
	w.cmd.Stderr = w.logs
	// Bound Wait's wait for the output copy if a descendant ever held the
	// pipe open.
	w.cmd.WaitDelay = 5 * time.Second
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start weir: %v", err)
	}
	go func() {
		_ = w.cmd.Wait()
		w.state = w.cmd.ProcessState
		close(w.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-w.exited:
		default:
			// The test ended without stopping weir (it failed, or it
			// stopped early): kill by PID and reap it.
			_ = syscall.Kill(w.cmd.Process.Pid, syscall.SIGKILL)
			<-w.exited
		}
		if t.Failed() {
			t.Logf("weir stderr:\n%s", w.logs.text())
		}
	})

	// Ready when the admin API is logged: the gateway logs every listener
	// before it starts the admin API, so by then all addresses are known.
	w.waitLog("the admin API's listening line", startTimeout, 0, func(r logRecord) bool {
		return r.str("msg") == "admin API"
	})
	recs, _, _ := w.logs.snapshot(0)
	for _, r := range recs {
		switch r.str("msg") {
		case "listening":
			w.listeners[r.str("listener")] = r.str("address")
		case "admin API":
			w.admin = r.str("address")
		}
	}
	if len(w.listeners) == 0 || w.admin == "" {
		t.Fatalf("weir logged no listener or admin address:\n%s", w.logs.text())
	}
	w.baseFDs, w.baseGoroutines = w.resources()
	return w
}

// resources counts weir's open file descriptors (/proc/PID/fd) and its
// goroutines (the admin API's goroutine profile, which also counts the
// goroutine serving that request, in the baseline as in every later count).
func (w *weirProc) resources() (fds, goroutines int) {
	w.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", w.cmd.Process.Pid))
	if err != nil {
		w.t.Fatalf("count weir's open files: %v", err)
	}
	status, body := w.adminGet("/debug/pprof/goroutine?debug=2")
	if status != http.StatusOK {
		w.t.Fatalf("goroutine profile: %d %q", status, clip([]byte(body)))
	}
	n, err := countGoroutines(body)
	if err != nil {
		w.t.Fatalf("goroutine profile: %v:\n%s", err, body)
	}
	return len(ents), n
}

// countGoroutines counts the goroutines of a debug=2 goroutine dump (one
// "goroutine N [state]:" block per goroutine, its stack and a "created by"
// line) that run or were started by weir's own code: sessions, relays,
// listeners, pollers. Goroutines of the runtime and the standard library
// alone are left out, because some come and go on their own (the admin
// server's per-request readers, the ones signal.Notify starts after the
// listeners are logged) and would make a count taken at startup no
// baseline; a leaked session shows up in weir's frames and in its files.
// An idle worker (its first frame of weir's is the worker loop itself) is
// left out too: the gateway keeps a bounded number of them for the next
// handshake or burst, and they belong to no session.
func countGoroutines(dump string) (int, error) {
	const ours = "github.com/weirproxy/weir/"
	const idleWorker = ours + "gateway.(*workers).loop("
	total, blocks := 0, 0
	for block := range strings.SplitSeq(dump, "\n\n") {
		block = strings.TrimSpace(block)
		if !strings.HasPrefix(block, "goroutine ") {
			continue
		}
		blocks++
		for line := range strings.Lines(block) {
			line = strings.TrimPrefix(strings.TrimSpace(line), "created by ")
			if strings.HasPrefix(line, ours) {
				if !strings.HasPrefix(line, idleWorker) {
					total++
				}
				break
			}
		}
	}
	if blocks == 0 {
		return 0, errors.New("no goroutines in the dump")
	}
	return total, nil
}

// settled waits until weir holds no more files and goroutines than it did
// at start: every session a test opened and closed has been released.
func (w *weirProc) settled() {
	w.t.Helper()
	var fds, gs int
	pollUntil(w.t, "weir's files and goroutines back to their baseline", func() (bool, error) {
		w.alive()
		fds, gs = w.resources()
		return fds <= w.baseFDs && gs <= w.baseGoroutines, nil
	})
	if fds > w.baseFDs || gs > w.baseGoroutines {
		_, profile := w.adminGet("/debug/pprof/goroutine?debug=2")
		w.t.Errorf("weir holds %d files and %d goroutines, %d and %d at start; goroutines:\n%s",
			fds, gs, w.baseFDs, w.baseGoroutines, profile)
	}
}

// cleanEnv is the environment for a weir process: the test's own, without
// WEIR_ variables. A -race build of weir is told not to linger a second at
// exit (the race runtime's default), which would add a second to every
// test; a race it found still makes it exit with status 66.
func cleanEnv() []string {
	var env []string
	gorace := ""
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "WEIR_"):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=")
		default:
			env = append(env, kv)
		}
	}
	if raceBuild {
		gorace = strings.TrimSpace(gorace + " atexit_sleep_ms=0")
	}
	if gorace != "" {
		env = append(env, "GORACE="+gorace)
	}
	return env
}

// addr is the address of the named listener.
func (w *weirProc) addr(listener string) string {
	w.t.Helper()
	a, ok := w.listeners[listener]
	if !ok {
		w.t.Fatalf("weir has no listener %q (has %v)", listener, w.listeners)
	}
	return a
}

// url is ws://ADDRESS-OF-public/path.
func (w *weirProc) url(path string) string { return "ws://" + w.addr("public") + path }

// mark is the number of log records so far; waitLog(…, mark, …) then looks
// only at what weir logs after it.
func (w *weirProc) mark() int {
	_, n, _ := w.logs.snapshot(0)
	return n
}

// waitLog waits, up to timeout, for a log record from index from on that
// matches, and returns its index. It fails the test if weir exits first.
func (w *weirProc) waitLog(what string, timeout time.Duration, from int, match func(logRecord) bool) int {
	w.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		recs, _, changed := w.logs.snapshot(from)
		for i, r := range recs {
			if match(r) {
				return from + i
			}
		}
		select {
		case <-changed:
		case <-w.exited:
			// Look once more: the line may have been the last one.
			if recs, _, _ := w.logs.snapshot(from); len(recs) > 0 {
				for i, r := range recs {
					if match(r) {
						return from + i
					}
				}
			}
			w.t.Fatalf("weir exited (%v) while waiting for %s:\n%s", w.state, what, w.logs.text())
		case <-deadline.C:
			w.t.Fatalf("weir did not log %s within %v:\n%s", what, timeout, w.logs.text())
		}
	}
}

// alive fails the test if weir has exited although nobody told it to.
func (w *weirProc) alive() {
	w.t.Helper()
	select {
	case <-w.exited:
		w.t.Fatalf("weir exited unexpectedly (%v):\n%s", w.state, w.logs.text())
	default:
	}
}

// signal sends sig to weir's PID, after checking it is still running.
func (w *weirProc) signal(sig syscall.Signal) {
	w.t.Helper()
	w.alive()
	if sig == syscall.SIGTERM || sig == syscall.SIGINT {
		w.stopping = true
	}
	if err := syscall.Kill(w.cmd.Process.Pid, sig); err != nil {
		w.t.Fatalf("signal %v to weir: %v", sig, err)
	}
}

// stop checks that weir released every session's files and goroutines
// (the test must have ended its sessions), then sends SIGTERM and requires
// exit status 0 (G-01).
func (w *weirProc) stop() {
	w.t.Helper()
	w.settled()
	w.signal(syscall.SIGTERM)
	w.waitExit()
}

// waitExit waits for weir to exit after a SIGTERM and requires status 0. On
// timeout it kills the process by PID and fails.
func (w *weirProc) waitExit() {
	w.t.Helper()
	if !w.stopping {
		w.t.Fatal("waitExit without a stop signal")
	}
	timer := time.NewTimer(exitTimeout)
	defer timer.Stop()
	select {
	case <-w.exited:
	case <-timer.C:
		_ = syscall.Kill(w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.exited
		w.t.Fatalf("weir did not exit within %v of SIGTERM; killed it:\n%s", exitTimeout, w.logs.text())
	}
	if code := w.state.ExitCode(); code != 0 {
		w.t.Fatalf("weir exited with %v after SIGTERM, want status 0:\n%s", w.state, w.logs.text())
	}
}

// adminGet fetches path from the admin API.
func (w *weirProc) adminGet(path string) (int, string) {
	w.t.Helper()
	return httpDo(w.t, http.MethodGet, "http://"+w.admin+path)
}

// httpDo makes one request with a bounded client and returns the status and
// body.
func httpDo(t testing.TB, method, url string) (int, string) {
	t.Helper()
	status, body, err := tryHTTP(method, url)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return status, body
}

// tryHTTP is httpDo that returns the error instead of failing.
func tryHTTP(method, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, "", err
	}
	// A fresh transport per request: no idle connection outlives the call
	// to hold a weir session or skew its connection counts.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, string(body), err
}

// writeConfig writes a YAML config into the test's temp dir and returns its
// path.
func writeConfig(t testing.TB, dir, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, "gateway.yaml")
	replaceFile(t, path, yaml)
	return path
}

// replaceFile writes content to path atomically (write aside, rename), so
// that a reload triggered right after never reads half a file.
func replaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// gatewayYAML is a whole config: one listener named public and the admin
// API on loopback port 0, JSON logs (the harness reads them), short drain
// and close timeouts, and the given routes section (YAML list items,
// indented by two spaces).
func gatewayYAML(routes string) string {
	return fmt.Sprintf(`listeners:
  - name: public
    address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
server:
  drain_timeout: %s
  close_timeout: %s
telemetry:
  logs: {format: json, level: info}
routes:
%s`, testDrainTimeout, testCloseTimeout, routes)
}

// dial opens a client WebSocket with coder/websocket and closes it, without
// a handshake, when the test ends. The read limit is raised above the
// largest message any test sends.
func dial(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		status := "no response"
		if resp != nil {
			status = resp.Status
		}
		t.Fatalf("dial %s: %v (%s)", url, err, status)
	}
	c.SetReadLimit(maxTestMessage + 1<<20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// maxTestMessage is the largest message a test sends; configs that carry it
// raise their limits to 16 MiB.
const maxTestMessage = 8 << 20

// echo sends one message and requires the same type and bytes back.
func echo(t testing.TB, c *websocket.Conn, typ websocket.MessageType, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := c.Write(ctx, typ, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	gotTyp, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if gotTyp != typ || !bytes.Equal(got, msg) {
		t.Fatalf("echo: got %v %q, want %v %q", gotTyp, clip(got), typ, clip(msg))
	}
}

// clip shortens a payload for a failure message.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// readClose reads until the connection ends and returns the close error the
// peer sent (code -1 when it ended without a Close frame).
func readClose(t testing.TB, c *websocket.Conn) websocket.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("readClose: more than 1000 data messages before the close")
		}
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		t.Logf("connection ended without a Close frame: %v", err)
		return websocket.CloseError{Code: -1}
	}
}
