package plugins

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The Rust SDK (sdk/rust) examples, built at test time with the command of
// sdk/rust/README.md (Debian's rustc 1.63 and cargo, with the
// wasm32-unknown-unknown standard library) and run by the real Host.

// rustToolchain returns rustc and cargo, preferring Debian's, the versions
// the SDK promises to build with.
func rustToolchain(tb testing.TB) (rustc, cargo string) {
	tb.Helper()
	for _, dir := range []string{"/usr/bin", ""} {
		rc, cg := filepath.Join(dir, "rustc"), filepath.Join(dir, "cargo")
		if dir == "" {
			var err error
			if rc, err = exec.LookPath("rustc"); err != nil {
				break
			}
			if cg, err = exec.LookPath("cargo"); err != nil {
				break
			}
		}
		if _, err := os.Stat(rc); err != nil {
			continue
		}
		if _, err := os.Stat(cg); err != nil {
			continue
		}
		return rc, cg
	}
	tb.Skip("rustc/cargo not found: install the Debian packages rustc cargo libstd-rust-dev-wasm32")
	return "", ""
}

// buildRustGuest builds both examples once per test binary (one cargo
// run) and returns the one named.
func buildRustGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	key := "rust:" + name
	if b, ok := guestCache.Load(key); ok {
		return b.([]byte)
	}
	rustc, cargo := rustToolchain(tb)
	target := tb.TempDir()
	cmd := exec.Command(cargo, "build", "--release", "--target", "wasm32-unknown-unknown", "--offline", "--examples")
	cmd.Dir = "../sdk/rust"
	cmd.Env = append(os.Environ(), "RUSTC="+rustc, "CARGO_TARGET_DIR="+target)
	if msg, err := cmd.CombinedOutput(); err != nil {
		if _, serr := os.Stat("/usr/lib/rustlib/wasm32-unknown-unknown"); serr != nil {
			tb.Skipf("no wasm32-unknown-unknown standard library (Debian package libstd-rust-dev-wasm32): %v\n%s", err, msg)
		}
		tb.Fatalf("cargo build: %v\n%s", err, msg)
	}
	dir := filepath.Join(target, "wasm32-unknown-unknown", "release", "examples")
	for _, n := range []string{"passthrough", "uppercase"} {
		storeGuest(tb, "rust:"+n, filepath.Join(dir, n+".wasm"))
	}
	b, _ := guestCache.Load(key)
	return b.([]byte)
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
