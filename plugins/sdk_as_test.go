package plugins

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The AssemblyScript SDK (sdk/assemblyscript) examples, built at test time
// with the command of sdk/assemblyscript/README.md and run by the real
// Host. The compiler comes from the package's node_modules (npm ci).

const asSDK = "../sdk/assemblyscript"

// buildASGuest compiles sdk/assemblyscript/examples/<name> once per test
// binary.
func buildASGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	key := "as:" + name
	if b, ok := guestCache.Load(key); ok {
		return b.([]byte)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("node not found: the AssemblyScript SDK guests need Node.js ≥ 20 and `npm ci` in sdk/assemblyscript")
	}
	asc := filepath.Join(asSDK, "node_modules", "assemblyscript", "bin", "asc.js")
	if _, err := os.Stat(asc); err != nil {
		tb.Skip("assemblyscript not installed: run `npm ci` in sdk/assemblyscript")
	}
	out, err := filepath.Abs(filepath.Join(tb.TempDir(), name+".wasm"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(node, "node_modules/assemblyscript/bin/asc.js",
		"examples/"+name+"/index.ts", "--runtime", "stub", "--use", "abort=", "-O3", "-o", out)
	cmd.Dir = asSDK
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("asc %s: %v\n%s", name, err, msg)
	}
	return storeGuest(tb, key, out)
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
