package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/weirproxy/weir/tests/bench/internal/echo"
)

func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &echo.Server{}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, echo.ErrServerClosed) {
			t.Errorf("echo: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

// lines decodes every stdout line as one JSON object.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line %q is not JSON: %v", l, err)
		}
		res = append(res, m)
	}
	return res
}

func TestModes(t *testing.T) {
	url := startEcho(t)
	for _, tc := range []struct {
		name  string
		args  []string
		lines int
		check func(t *testing.T, m map[string]any)
	}{
		{"throughput", []string{"-mode", "throughput", "-size", "64", "-conns", "2", "-duration", "100ms"}, 1,
			func(t *testing.T, m map[string]any) {
				if m["msgs_per_s"].(float64) <= 0 || m["messages_total"].(float64) <= 0 {
					t.Fatalf("no messages: %v", m)
				}
			}},
		{"latency", []string{"-mode", "latency", "-rate", "1000", "-conns", "2", "-duration", "100ms"}, 1,
			func(t *testing.T, m map[string]any) {
				if m["sent"].(float64) != 100 || m["received"] != m["sent"] || m["p99_us"].(float64) <= 0 {
					t.Fatalf("latency result: %v", m)
				}
			}},
		{"connect", []string{"-mode", "connect", "-workers", "2", "-duration", "100ms"}, 1,
			func(t *testing.T, m map[string]any) {
				if m["handshakes"].(float64) <= 0 {
					t.Fatalf("no handshakes: %v", m)
				}
			}},
		// With nothing to release it, the hold runs out after -duration.
		{"idle", []string{"-mode", "idle", "-sessions", "10", "-duration", "50ms"}, 2,
			func(t *testing.T, m map[string]any) {
				if m["event"] != "done" || m["survived"].(float64) != 10 {
					t.Fatalf("idle result: %v", m)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"-url", url, "-label", "direct"}, tc.args...)
			if code := run(t.Context(), args, &stdout, &stderr, nil); code != exitOK {
				t.Fatalf("exit %d; stderr: %s", code, stderr.String())
			}
			ls := lines(t, stdout.String())
			if len(ls) != tc.lines {
				t.Fatalf("%d JSON lines; want %d:\n%s", len(ls), tc.lines, stdout.String())
			}
			last := ls[len(ls)-1]
			if last["target"] != "direct" || last["mode"] != tc.name || last["errors"].(float64) != 0 {
				t.Fatalf("result %v", last)
			}
			tc.check(t, last)
			if !strings.Contains(stderr.String(), "direct: ") {
				t.Fatalf("no human line on stderr: %q", stderr.String())
			}
		})
	}
}

func TestUsageAndUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "ws://" + ln.Addr().String() + "/"
	_ = ln.Close()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no url", []string{"-mode", "throughput"}},
		{"bad mode", []string{"-url", dead, "-mode", "nope"}},
		{"bad flag", []string{"-url", dead, "-frobnicate"}},
		{"bad config", []string{"-url", dead, "-conns", "0", "-duration", "100ms"}},
		{"unreachable", []string{"-url", dead, "-mode", "throughput", "-duration", "100ms"}},
		{"probe unreachable", []string{"-url", dead, "-mode", "probe", "-duration", "200ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tc.args, &stdout, &stderr, nil); code != exitUsage {
				t.Fatalf("exit %d; want %d; stderr: %s", code, exitUsage, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q; want nothing", stdout.String())
			}
		})
	}
}

func TestSourceAddrs(t *testing.T) {
	got := sourceAddrs(300)
	if got[0].String() != "127.0.0.2" || got[253].String() != "127.0.0.255" || got[254].String() != "127.0.1.0" {
		t.Fatalf("sources %v %v %v", got[0], got[253], got[254])
	}
}
