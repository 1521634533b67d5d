package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilterTestCommand(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not found: install the Debian packages clang and lld to build WASM filters")
	}
	wasm := filepath.Join(t.TempDir(), "uppercase.wasm")
	cmd := exec.Command(clang, "--target=wasm32", "-O2", "-nostdlib", "-mbulk-memory", "-Wl,--no-entry",
		"-Wl,-z,stack-size=65536", "-I", "../../sdk/c", "-o", wasm, "../../sdk/c/examples/uppercase.c")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, msg)
	}
	in := strings.NewReader(`{"dir":"client","type":"text","data":"hello"}
{"dir":"backend","type":"binary","data":"abc"}
{"close":1000}
`)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"filter", "test", wasm}, in, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) < 2 || lines[0]["action"] != "forward" || lines[0]["data"] != "HELLO" ||
		lines[1]["action"] != "forward" || lines[1]["data"] != "YWJj" || lines[1]["base64"] != true {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{{"bogus"}, {"filter"}, {"filter", "test"}, {"validate", "a", "b"}} {
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code := run(context.Background(), []string{"version"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "weir") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("listeners: [{name: a, address: nope}]\nroutes: [{name: r}]\n"), 0o644)
	errb.Reset()
	if code := run(context.Background(), []string{"validate", bad}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "listeners[0].address") {
		t.Fatalf("validate bad: %d %q", code, errb.String())
	}
}
