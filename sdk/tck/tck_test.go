package tck

import (
	"os"
	"testing"

	"github.com/weirproxy/weir/plugins/pluginstest"
)

// cacheDir is wazero's compilation cache for every host of this test
// binary, so TestTCK and FuzzGuests compile each guest once. TestMain sets
// it before any test runs and removes it after; nothing writes it after.
var cacheDir string

func TestMain(m *testing.M) { os.Exit(pluginstest.MainWithCache(m, &cacheDir)) }

// guest is one language's TCK guest, how to build it, and the cases it is
// known to fail.
type guest struct {
	lang  string
	build func(testing.TB) []byte
	known []Deviation
}

// guests lists the kit's guests. Adding a language is one line here, a
// guest under sdk/tck/<lang> and, for a new toolchain, a builder in
// plugins/pluginstest.
func guests() []guest {
	return []guest{
		{"c", func(tb testing.TB) []byte { return pluginstest.C(tb, "sdk/tck/c/tck.c") }, nil},
		{"go", func(tb testing.TB) []byte { return pluginstest.Go(tb, "sdk/tck/go") }, []Deviation{{
			Case:   "buffer_out_of_memory",
			Reason: "the Go runtime aborts when it cannot grow its heap, so weir_buffer traps instead of returning 0 (sdk/go/README.md)",
		}}},
		{"rust", func(tb testing.TB) []byte { return pluginstest.Rust(tb, "sdk/tck/rust", "") }, nil},
		{"assemblyscript", func(tb testing.TB) []byte {
			return pluginstest.AssemblyScript(tb, "sdk/tck/assemblyscript/index.ts")
		}, nil},
	}
}

// TestTCK runs the kit against every language's guest, built from source
// with its SDK.
func TestTCK(t *testing.T) {
	for _, g := range guests() {
		t.Run(g.lang, func(t *testing.T) {
			// Languages run side by side: the Go guest's loads are the
			// slowest part of the kit, and the others fit beside them.
			t.Parallel()
			run(t, g.build(t), cacheDir, g.known)
		})
	}
}
