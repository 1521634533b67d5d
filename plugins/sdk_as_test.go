package plugins

import (
	"testing"

	"github.com/weirproxy/weir/plugins/pluginstest"
)

// The AssemblyScript SDK (sdk/assemblyscript) examples, built at test time
// with the command of sdk/assemblyscript/README.md and run by the real
// Host. The compiler comes from the package's node_modules (npm ci).

// buildASGuest compiles sdk/assemblyscript/examples/<name> with the
// compiler of the SDK's node_modules (npm ci), once per test binary.
func buildASGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	return pluginstest.AssemblyScript(tb, "sdk/assemblyscript/examples/"+name+"/index.ts")
}

func TestSDKASPassthrough(t *testing.T) { testSDKPassthrough(t, buildASGuest(t, "passthrough")) }

func TestSDKASUppercase(t *testing.T) { testSDKUppercase(t, buildASGuest(t, "uppercase")) }

// BenchmarkSDKASNoOp is the hot path through the AssemblyScript SDK's
// passthrough example (stub runtime, metered module).
//
// Figures (2-vCPU Intel Xeon VM, Go 1.26.8, assemblyscript 0.28.20;
// go test -run '^$' -bench SDKASNoOp -benchtime=20000x ./plugins/;
// the three SDKs measured in one run):
//
//	64B      39 ns/op   0 allocs/op
//	1KiB     46 ns/op   0 allocs/op
//	64KiB   2.8 µs/op   0 allocs/op
func BenchmarkSDKASNoOp(b *testing.B) { benchSDKNoOp(b, buildASGuest(b, "passthrough")) }
