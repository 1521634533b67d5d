package pluginstest

import (
	"fmt"
	"os"
	"testing"
)

// MainWithCache runs a test binary's tests with *cacheDir set to a fresh
// directory for wazero's compilation cache (plugins.HostOptions.CacheDir),
// so that every host of the binary compiles each module once, and removes
// it afterwards. It returns the exit code:
//
//	func TestMain(m *testing.M) { os.Exit(pluginstest.MainWithCache(m, &cacheDir)) }
func MainWithCache(m *testing.M, cacheDir *string) int {
	dir, err := os.MkdirTemp("", "weir-wasm-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*cacheDir = dir
	return m.Run()
}
