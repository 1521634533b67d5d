package pluginstest

import (
	"bytes"
	"testing"
)

// wasmMagic opens every binary module: "\0asm" and version 1.
var wasmMagic = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

func TestBuilders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(testing.TB) []byte
	}{
		{"c", func(tb testing.TB) []byte { return C(tb, "sdk/c/examples/passthrough.c") }},
		{"go", func(tb testing.TB) []byte { return Go(tb, "sdk/go/examples/passthrough") }},
		{"rust", func(tb testing.TB) []byte { return Rust(tb, "sdk/rust", "passthrough") }},
		{"assemblyscript", func(tb testing.TB) []byte {
			return AssemblyScript(tb, "sdk/assemblyscript/examples/passthrough/index.ts")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.build(t)
			if !bytes.HasPrefix(b, wasmMagic) {
				t.Fatalf("built %d bytes that are not a WebAssembly module", len(b))
			}
			if again := tc.build(t); &again[0] != &b[0] {
				t.Fatal("second build of the same guest was not served from the cache")
			}
		})
	}
}

func TestCrateName(t *testing.T) {
	name, err := crateName(Root(t) + "/sdk/rust/Cargo.toml")
	if err != nil || name != "weir" {
		t.Fatalf("crateName = %q, %v; want weir", name, err)
	}
}
