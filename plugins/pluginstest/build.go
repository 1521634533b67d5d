package pluginstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cache maps a build key to its module bytes; builds keyed the same are
// done once per test binary.
var (
	cache   sync.Map // key -> []byte
	buildMu sync.Mutex
)

// Root returns the module's root directory (the one holding go.mod),
// searched upward from the working directory of the test.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("pluginstest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// abs resolves a module-relative path.
func abs(tb testing.TB, rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(Root(tb), filepath.FromSlash(rel))
}

// once runs build under key unless its result is cached. Builds are
// serialised: toolchains share caches (cargo's target dir, Go's build
// cache) and the machines this runs on are small.
func once(tb testing.TB, key string, build func(out string) error) []byte {
	tb.Helper()
	if b, ok := cache.Load(key); ok {
		return b.([]byte)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := cache.Load(key); ok {
		return b.([]byte)
	}
	dir, err := os.MkdirTemp("", "weir-guest-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "guest.wasm")
	if err := build(out); err != nil {
		tb.Fatalf("build %s: %v", key, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatalf("build %s: %v", key, err)
	}
	cache.Store(key, b)
	return b
}

func run(cmd *exec.Cmd) error {
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, msg)
	}
	return nil
}

// C compiles one C source (module-relative or absolute) with the command of
// sdk/c/README.md; sdk/c is on the include path. extra flags go last
// (e.g. "-DNAME=1").
func C(tb testing.TB, src string, extra ...string) []byte {
	tb.Helper()
	clang, err := exec.LookPath("clang")
	if err != nil {
		tb.Skip("clang not found: install the Debian packages clang and lld to build the C guests")
	}
	if _, err := exec.LookPath("wasm-ld"); err != nil {
		tb.Skip("wasm-ld not found: install the Debian package lld to link the C guests")
	}
	src = abs(tb, src)
	inc := abs(tb, "sdk/c")
	return once(tb, "c:"+src+" "+strings.Join(extra, " "), func(out string) error {
		args := []string{"--target=wasm32", "-O2", "-nostdlib", "-mbulk-memory",
			"-Wl,--no-entry", "-Wl,-z,stack-size=65536", "-I", inc, "-o", out, src}
		return run(exec.Command(clang, append(args, extra...)...))
	})
}

// Go builds one main package (a module-relative directory such as
// "sdk/go/examples/passthrough") with the command of sdk/go/README.md.
func Go(tb testing.TB, pkg string) []byte {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("go not found on PATH: the Go guests need the go command to build")
	}
	root := Root(tb)
	return once(tb, "go:"+pkg, func(out string) error {
		cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", out, "./"+filepath.ToSlash(pkg))
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		return run(cmd)
	})
}

// rustTarget is cargo's target directory for this test binary, shared by
// every Rust build so that the SDK crate is compiled once.
var (
	rustTargetOnce sync.Once
	rustTarget     string
)

// RustToolchain returns rustc and cargo, preferring Debian's (the versions
// sdk/rust promises to build with: the rustup toolchain, when present, has
// no wasm32 standard library). It skips tb when there are none.
func RustToolchain(tb testing.TB) (rustc, cargo string) {
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

// Rust builds a cdylib from the crate in dir (module-relative) for
// wasm32-unknown-unknown with the command of sdk/rust/README.md: the
// example named example when example is not empty, else the crate's
// library, whose module is found as the one .wasm cargo wrote.
func Rust(tb testing.TB, dir, example string) []byte {
	tb.Helper()
	rustc, cargo := RustToolchain(tb)
	dir = abs(tb, dir)
	return once(tb, "rust:"+dir+":"+example, func(out string) error {
		rustTargetOnce.Do(func() {
			rustTarget, _ = os.MkdirTemp("", "weir-cargo-")
		})
		if rustTarget == "" {
			return fmt.Errorf("no cargo target directory")
		}
		args := []string{"build", "--release", "--target", "wasm32-unknown-unknown", "--offline"}
		if example != "" {
			args = append(args, "--example", example)
		} else {
			args = append(args, "--lib")
		}
		cmd := exec.Command(cargo, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "RUSTC="+rustc, "CARGO_TARGET_DIR="+rustTarget)
		if err := run(cmd); err != nil {
			if _, serr := os.Stat("/usr/lib/rustlib/wasm32-unknown-unknown"); serr != nil {
				tb.Skipf("no wasm32-unknown-unknown standard library (Debian package libstd-rust-dev-wasm32): %v", err)
			}
			return err
		}
		rel := filepath.Join(rustTarget, "wasm32-unknown-unknown", "release")
		var built string
		if example != "" {
			built = filepath.Join(rel, "examples", example+".wasm")
		} else {
			name, err := crateName(filepath.Join(dir, "Cargo.toml"))
			if err != nil {
				return err
			}
			built = filepath.Join(rel, strings.ReplaceAll(name, "-", "_")+".wasm")
		}
		b, err := os.ReadFile(built)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}

// crateName reads [package] name from a Cargo.toml, enough for the crates
// of this repository (one name = "..." line in [package]).
func crateName(manifest string) (string, error) {
	b, err := os.ReadFile(manifest)
	if err != nil {
		return "", err
	}
	inPackage := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			inPackage = line == "[package]"
			continue
		}
		if k, v, ok := strings.Cut(line, "="); inPackage && ok && strings.TrimSpace(k) == "name" {
			return strings.Trim(strings.TrimSpace(v), `"`), nil
		}
	}
	return "", fmt.Errorf("%s: no [package] name", manifest)
}

// AssemblyScript compiles entry (a module-relative .ts file) with the
// compiler installed in sdk/assemblyscript/node_modules (`npm ci` there) and
// the flags of sdk/assemblyscript/README.md.
func AssemblyScript(tb testing.TB, entry string) []byte {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("node not found: the AssemblyScript guests need Node.js and `npm ci` in sdk/assemblyscript")
	}
	asc := abs(tb, "sdk/assemblyscript/node_modules/assemblyscript/bin/asc.js")
	if _, err := os.Stat(asc); err != nil {
		tb.Skip("assemblyscript not installed: run `npm ci` in sdk/assemblyscript")
	}
	entry = abs(tb, entry)
	return once(tb, "as:"+entry, func(out string) error {
		cmd := exec.Command(node, asc, entry, "--runtime", "stub", "--use", "abort=", "-O3", "-o", out)
		cmd.Dir = filepath.Dir(entry)
		return run(cmd)
	})
}

// WriteFile writes a built module into the test's temporary directory and
// returns its path, for configs that name a .wasm file.
func WriteFile(tb testing.TB, name string, wasm []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}
