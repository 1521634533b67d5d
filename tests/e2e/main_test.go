package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testVersion is stamped into the binary under test, so that `weir version`
// can be checked for the value the build gave it.
const testVersion = "e2e-0.0.0-test"

// weirBin is the path of the weir binary that TestMain built. It is written
// once, before any test runs, and only read afterwards.
var weirBin string

// moduleRoot is the directory holding go.mod, set with weirBin.
var moduleRoot string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests builds weir into a temporary directory, runs the tests and
// removes the directory: the binary is built once per package run, not per
// test, because a build costs seconds and every test wants the same one.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "weir-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bin := filepath.Join(dir, "weir")
	if err := buildWeir(root, bin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	moduleRoot, weirBin = root, bin
	return m.Run()
}

// findModuleRoot asks the go command where go.mod is, so the tests work
// from any working directory inside the module.
func findModuleRoot() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module (got %q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

// buildWeir builds ./cmd/weir with the test version stamped in, with the
// race detector when the tests themselves run under it.
func buildWeir(root, bin string) error {
	args := []string{"build", "-o", bin, "-ldflags=-X main.version=" + testVersion}
	if raceBuild {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/weir")
	// Bounded: a cold build of the whole module under -race takes a few
	// minutes on a small machine; far longer means something hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}
