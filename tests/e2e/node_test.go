package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// nodeReport is the JSON line node/client.mjs prints.
type nodeReport struct {
	OK      bool `json:"ok"`
	Results []struct {
		Name       string `json:"name"`
		Bytes      int    `json:"bytes"`
		Frames     int    `json:"frames"`
		Binary     bool   `json:"binary"`
		SHA256     string `json:"sha256"`
		EchoBytes  int    `json:"echo_bytes"`
		EchoBinary bool   `json:"echo_binary"`
		EchoSHA256 string `json:"echo_sha256"`
		OK         bool   `json:"ok"`
	} `json:"results"`
	Close *struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"close"`
	Error string `json:"error"`
}

// TestNodeWSClient drives the demo's /echo with the `ws` npm client
// (node/client.mjs): text, binary, empty, 1 MiB, and messages ws sends in
// fragments, each echoed byte-exact; then a 1000 close answered with 1000.
func TestNodeWSClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the ws client test needs Node.js (CI installs it with tests/setup.sh)")
	}
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
		t.Fatalf("the ws package is not installed in %s: run `npm ci` there (tests/setup.sh does): %v", dir, err)
	}

	w := startDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", w.url("/echo"))
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// CommandContext kills node by PID if it outlives the deadline; Run
	// reaps it either way.
	runErr := cmd.Run()
	w.alive()

	var rep nodeReport
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &rep); err != nil {
		t.Fatalf("node client: %v; output not one JSON line: %v\nstdout:\n%s\nstderr:\n%s", runErr, err, stdout.String(), stderr.String())
	}
	if !rep.OK || runErr != nil {
		t.Errorf("node client reported failure (%v, error %q):\n%s\nstderr:\n%s", runErr, rep.Error, stdout.String(), stderr.String())
	}
	var names []string
	for _, r := range rep.Results {
		names = append(names, r.Name)
		if !r.OK || r.EchoSHA256 != r.SHA256 || r.EchoBytes != r.Bytes || r.EchoBinary != r.Binary {
			t.Errorf("%s: sent %d bytes (binary %v, %d frames, sha256 %s), echo %d bytes (binary %v, sha256 %s)",
				r.Name, r.Bytes, r.Binary, r.Frames, r.SHA256, r.EchoBytes, r.EchoBinary, r.EchoSHA256)
		}
	}
	want := []string{"text", "binary", "empty-text", "binary-1MiB", "fragmented-text", "fragmented-binary"}
	if !slices.Equal(names, want) {
		t.Errorf("node client ran %v, want %v", names, want)
	}
	if rep.Close == nil || rep.Close.Code != 1000 {
		t.Errorf("node client's close: %+v, want code 1000", rep.Close)
	}
	w.stop()
}
