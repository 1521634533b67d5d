package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
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

// chromiumFlags are the flags the browser runs with: headless, no sandbox
// (CI runs as root in a container), and nothing that reaches the network
// on its own (updates, sync, QUIC probes).
var chromiumFlags = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--no-first-run",
	"--disable-quic",
}

// browserTimeout bounds each wait on the browser: its start, the page's
// WebSocket opening, and the echo arriving.
const browserTimeout = 20 * time.Second

// artifactDirEnv names an optional directory where the browser test also
// copies its screenshot, to look at after the run.
const artifactDirEnv = "E2E_ARTIFACT_DIR"

// TestBrowserDemo opens the demo page in headless Chromium, driven over the
// Chrome DevTools Protocol with coder/websocket: the page's WebSocket to
// /echo opens, its greeting comes back through weir and the builtin echo,
// a message typed into the form comes back too, and a screenshot is saved.
func TestBrowserDemo(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed: the browser test needs Debian's chromium package (CI installs it with tests/setup.sh)")
	}
	w := startDemo(t)
	br := startChromium(t, bin)

	ctx, cancel := context.WithTimeout(context.Background(), 3*browserTimeout)
	defer cancel()
	cdp := dialCDP(t, ctx, br.devtoolsURL)

	var target struct {
		TargetID string `json:"targetId"`
	}
	cdp.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	cdp.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	page := attached.SessionID

	pageURL := "http://" + w.addr("public") + "/"
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	cdp.call(ctx, page, "Page.navigate", map[string]any{"url": pageURL}, &nav)
	if nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %s", pageURL, nav.ErrorText)
	}

	cdp.pollEval(page, "#status to read \"open\"",
		`(document.querySelector('#status') || {}).textContent || ''`,
		func(v string) bool { return v == "open" })
	received := `Array.from(document.querySelectorAll('#log li.in')).map(li => li.textContent).join('\n')`
	cdp.pollEval(page, "the greeting's echo in #log", received,
		func(v string) bool { return strings.Contains(v, "hello from the browser") })
	w.alive()

	// Type into the page's form and submit it, as a user would.
	cdp.eval(page, `document.getElementById('msg').value = 'typed in the browser ✓';
		document.querySelector('#f button').click(); 'sent'`)
	cdp.pollEval(page, "the typed message's echo in #log", received,
		func(v string) bool { return strings.Contains(v, "typed in the browser ✓") })

	var shot struct {
		Data string `json:"data"`
	}
	cdp.call(ctx, page, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	img, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width == 0 || cfg.Height == 0 {
		t.Fatalf("screenshot is not a usable PNG (%v, %dx%d)", err, cfg.Width, cfg.Height)
	}
	file := filepath.Join(t.TempDir(), "demo.png")
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv(artifactDirEnv); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "browser-demo.png"), img, 0o644); err != nil {
			t.Errorf("copy screenshot to %s: %v", dir, err)
		}
	}
	t.Logf("screenshot %dx%d saved to %s", cfg.Width, cfg.Height, file)

	cdp.call(ctx, "", "Target.closeTarget", map[string]any{"targetId": target.TargetID}, nil)
	// The browser goes first: its connections to weir (the page's
	// WebSocket, an idle keep-alive) end with it, and only then may weir
	// be held to its starting files and goroutines.
	br.stop()
	w.stop()
}

// chromium is a running headless browser.
type chromium struct {
	devtoolsURL string
	// stop kills the browser's process group and reaps the browser; it
	// may be called more than once.
	stop func()
}

// startChromium runs the browser in its own process group with a fresh
// profile and waits for the DevTools URL it prints on stderr. At test end
// the whole group (the browser and its renderer, GPU and zygote children)
// is killed by process-group ID and the browser reaped.
func startChromium(t *testing.T, bin string) *chromium {
	t.Helper()
	args := append(append([]string(nil), chromiumFlags...),
		"--user-data-dir="+t.TempDir(),
		"--remote-debugging-port=0",
		"about:blank",
	)
	out := &devtoolsSink{found: make(chan string, 1)}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	pgid := cmd.Process.Pid // Setpgid: the group's ID is the leader's PID
	stop := sync.OnceFunc(func() {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	})
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.text())
		}
	})

	timer := time.NewTimer(browserTimeout)
	defer timer.Stop()
	select {
	case u := <-out.found:
		return &chromium{devtoolsURL: u, stop: stop}
	case <-exited:
		t.Fatalf("chromium exited before printing its DevTools URL:\n%s", out.text())
	case <-timer.C:
		t.Fatalf("chromium printed no DevTools URL within %v:\n%s", browserTimeout, out.text())
	}
	return nil
}

// devtoolsSink keeps the browser's output and reports the first
// "DevTools listening on ws://…" line's URL.
type devtoolsSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	seen  bool
	found chan string
}

func (s *devtoolsSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if !s.seen {
		const prefix = "DevTools listening on "
		text := s.buf.String()
		if i := strings.Index(text, prefix); i >= 0 {
			rest := text[i+len(prefix):]
			if j := strings.IndexByte(rest, '\n'); j >= 0 {
				s.seen = true
				s.found <- strings.TrimSpace(rest[:j])
			}
		}
	}
	return len(p), nil
}

func (s *devtoolsSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// cdpClient speaks the Chrome DevTools Protocol over one WebSocket: a
// command is a JSON object with an id, its answer carries the same id, and
// events (no id) are skipped. One command is outstanding at a time, so no
// reader goroutine is needed.
type cdpClient struct {
	t      *testing.T
	c      *websocket.Conn
	nextID int
}

func dialCDP(t *testing.T, ctx context.Context, url string) *cdpClient {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial DevTools %s: %v", url, err)
	}
	// Screenshots arrive as one base64 message of a few hundred KiB.
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &cdpClient{t: t, c: c}
}

// cdpError is the error object of a failed command.
type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *cdpError) Error() string { return fmt.Sprintf("CDP error %d: %s", e.Code, e.Message) }

// call sends one command (to the browser when session is "", else to that
// attached page) and decodes its result into result (nil: ignore it).
func (p *cdpClient) call(ctx context.Context, session, method string, params, result any) {
	p.t.Helper()
	if err := p.do(ctx, session, method, params, result); err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
}

func (p *cdpClient) do(ctx context.Context, session, method string, params, result any) error {
	p.nextID++
	id := p.nextID
	req := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		req["sessionId"] = session
	}
	msg, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if err := p.c.Write(ctx, websocket.MessageText, msg); err != nil {
		return err
	}
	// Bounded: a page in a loop can emit many events, but not this many
	// before the answer to one command.
	for range 100000 {
		_, data, err := p.c.Read(ctx)
		if err != nil {
			return err
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *cdpError       `json:"error"`
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			return fmt.Errorf("decode %s answer: %w", method, err)
		}
		if resp.ID != id {
			continue // an event, or an answer to nothing we wait for
		}
		if resp.Error != nil {
			return resp.Error
		}
		if result == nil {
			return nil
		}
		return json.Unmarshal(resp.Result, result)
	}
	return errors.New("no answer among 100000 messages")
}

// eval evaluates a JavaScript expression in the page and returns its value
// as a string.
func (p *cdpClient) eval(page, expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	var out struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	p.call(ctx, page, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &out)
	if out.ExceptionDetails != nil {
		p.t.Fatalf("evaluate %q: %s", expr, out.ExceptionDetails.Text)
	}
	s, _ := out.Result.Value.(string)
	return s
}

// pollEval evaluates expr until ok accepts its value, bounded by
// browserTimeout.
func (p *cdpClient) pollEval(page, what, expr string, ok func(string) bool) {
	p.t.Helper()
	deadline := time.Now().Add(browserTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		last = p.eval(page, expr)
		if ok(last) {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waiting for %s: not within %v (last value %q)", what, browserTimeout, last)
		}
		<-tick.C
	}
}
