package plugins

import (
	"testing"

	"github.com/weirproxy/weir/plugins/pluginstest"
)

// The Rust SDK (sdk/rust) examples, built at test time with the command of
// sdk/rust/README.md (Debian's rustc 1.63 and cargo, with the
// wasm32-unknown-unknown standard library) and run by the real Host.

// buildRustGuest builds the example name of sdk/rust, once per test
// binary.
func buildRustGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	return pluginstest.Rust(tb, "sdk/rust", name)
}

func TestSDKRustPassthrough(t *testing.T) { testSDKPassthrough(t, buildRustGuest(t, "passthrough")) }

func TestSDKRustUppercase(t *testing.T) { testSDKUppercase(t, buildRustGuest(t, "uppercase")) }

// BenchmarkSDKRustNoOp is the hot path through the Rust SDK's passthrough
// example (no_std, wasm32-unknown-unknown, metered module).
//
// Figures (2-vCPU Intel Xeon VM, Go 1.26.8, rustc 1.63;
// go test -run '^$' -bench SDKRustNoOp -benchtime=20000x ./plugins/;
// the three SDKs measured in one run):
//
//	64B      37 ns/op   0 allocs/op
//	1KiB     49 ns/op   0 allocs/op
//	64KiB   2.9 µs/op   0 allocs/op
func BenchmarkSDKRustNoOp(b *testing.B) { benchSDKNoOp(b, buildRustGuest(b, "passthrough")) }
