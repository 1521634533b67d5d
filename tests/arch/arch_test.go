// Package arch checks the package arrows of DESIGN.md §2 against the real
// import graph, so that a forbidden import fails CI instead of a review.
package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rule forbids packages matching from (minus except) to depend on packages
// matching any of forbid (minus allow). Patterns are relative to the module:
// "x" is package x, "x/..." is x and everything under it, "..." is every
// package of the module. Dependencies are transitive: going through a third
// package does not make a forbidden arrow legal.
type rule struct {
	from, except  string
	forbid        []string
	allow, reason string
}

// rules is DESIGN.md §2 as data: one line per arrow that must not exist.
func rules() []rule {
	return []rule{
		{from: "...", except: "cmd/...", forbid: []string{"cmd/..."}, reason: "cmd is the top: nothing imports it"},
		{from: "gateway/config/...", forbid: []string{"..."}, allow: "gateway/config/...", reason: "gateway/config is a leaf"},
		{from: "filters/...", forbid: []string{"gateway/...", "plugins/...", "policy/..."}, reason: "filters is a leaf that knows nothing of the server"},
		{from: "plugins/...", forbid: []string{"gateway/...", "policy/..."}, reason: "plugins only knows filters"},
		{from: "policy/...", forbid: []string{"gateway/...", "plugins/...", "filters/..."}, reason: "policy is a leaf"},
		{from: "gateway/balance/...", forbid: []string{"plugins/...", "policy/..."}, reason: "balancing does not depend on sandboxes or policy"},
		{from: "gateway/admit/...", forbid: []string{"plugins/...", "policy/..."}, reason: "admission does not depend on sandboxes or policy"},
		{from: "gateway/auth/...", forbid: []string{"plugins/..."}, reason: "authentication does not depend on sandboxes"},
		// Excepted: sdk/tck, the conformance runner, drives the real host.
		{from: "sdk/...", except: "sdk/tck/...", forbid: []string{"gateway/...", "plugins/..."}, reason: "SDK host code must not pull in the gateway"},
		{from: "sdk/tck/...", forbid: []string{"gateway/..."}, reason: "the conformance runner drives the real host, not the gateway"},
	}
}

// docExempt lists trees whose packages need no doc.go: examples and SDK
// guests are read as programs, tests are not part of the product.
func docExempt() []string { return []string{"examples/...", "sdk/...", "tests/..."} }

// pkg is the part of `go list -json` output the checks read.
type pkg struct {
	ImportPath     string
	Name           string
	GoFiles        []string
	IgnoredGoFiles []string
	Imports        []string
	Deps           []string
}

type violation struct {
	Pkg, Dep string
	Direct   bool
	Rule     rule
}

// match reports whether rel (a path relative to the module, "" for the root
// package) matches pattern.
func match(pattern, rel string) bool {
	switch {
	case pattern == "":
		return false
	case pattern == "...":
		return true
	case strings.HasSuffix(pattern, "/..."):
		base := strings.TrimSuffix(pattern, "/...")
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

// relative returns path relative to module and whether it is in the module.
func relative(module, path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// check returns every dependency of pkgs that breaks a rule.
func check(module string, pkgs []pkg, rs []rule) []violation {
	var out []violation
	for _, p := range pkgs {
		from, ok := relative(module, p.ImportPath)
		if !ok {
			continue
		}
		for _, r := range rs {
			if !match(r.from, from) || match(r.except, from) {
				continue
			}
			for _, d := range p.Deps {
				to, ok := relative(module, d)
				if !ok || match(r.allow, to) {
					continue
				}
				if slices.ContainsFunc(r.forbid, func(f string) bool { return match(f, to) }) {
					out = append(out, violation{Pkg: p.ImportPath, Dep: d, Direct: slices.Contains(p.Imports, d), Rule: r})
				}
			}
		}
	}
	return out
}

// missingDoc returns the packages that need a doc.go and lack one: every
// non-main package of the module outside docExempt. A package whose files
// are all excluded by build constraints here (GOOS=wasip1 guests) has no
// GoFiles and is skipped.
func missingDoc(module string, pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		rel, ok := relative(module, p.ImportPath)
		if !ok || p.Name == "main" || len(p.GoFiles) == 0 {
			continue
		}
		if slices.ContainsFunc(docExempt(), func(e string) bool { return match(e, rel) }) {
			continue
		}
		if !slices.Contains(p.GoFiles, "doc.go") && !slices.Contains(p.IgnoredGoFiles, "doc.go") {
			out = append(out, p.ImportPath)
		}
	}
	return out
}

// listModule runs `go list` at the module root and returns the module path
// and its packages.
func listModule(t *testing.T) (string, []pkg) {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))

	cmd := exec.Command("go", "list", "-m")
	cmd.Dir = root
	mod, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}

	var stderr bytes.Buffer
	// -e keeps listing when a package does not build: its imports are still
	// known, and a build error is another test's business.
	cmd = exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return strings.TrimSpace(string(mod)), pkgs
}

func TestImportArrows(t *testing.T) {
	module, pkgs := listModule(t)
	t.Logf("checking %d packages of %s against %d rules", len(pkgs), module, len(rules()))
	for _, v := range check(module, pkgs, rules()) {
		how := "through another package"
		if v.Direct {
			how = "directly"
		}
		t.Errorf("%s imports %s (%s): %s", v.Pkg, v.Dep, how, v.Rule.reason)
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	module, pkgs := listModule(t)
	for _, p := range missingDoc(module, pkgs) {
		t.Errorf("%s has no doc.go saying what it owns", p)
	}
}

// TestCheckerCatchesViolations proves the checks on a synthetic module, so
// that a rule that silently matches nothing is noticed.
func TestCheckerCatchesViolations(t *testing.T) {
	const m = "example.com/w"
	pkgs := []pkg{
		{ImportPath: m + "/cmd/weir", Name: "main", Imports: []string{m + "/gateway", m + "/cmd/weir/flags"}, Deps: []string{m + "/gateway", m + "/cmd/weir/flags", m + "/filters"}},
		{ImportPath: m + "/gateway", Imports: []string{m + "/filters", m + "/gateway/config", m + "/cmd/weir/flags"}, Deps: []string{m + "/filters", m + "/gateway/config", m + "/cmd/weir/flags"}},
		{ImportPath: m + "/gateway/config", Imports: []string{"fmt", m + "/gateway/config/internal/x", m + "/filters"}, Deps: []string{"fmt", m + "/gateway/config/internal/x", m + "/filters"}},
		{ImportPath: m + "/filters", Imports: []string{"context"}, Deps: []string{"context"}},
		{ImportPath: m + "/filters/native", Imports: []string{m + "/helper"}, Deps: []string{m + "/helper", m + "/policy"}},
		{ImportPath: m + "/plugins", Imports: []string{m + "/filters", m + "/policy"}, Deps: []string{m + "/filters", m + "/policy"}},
		{ImportPath: m + "/policy", Imports: []string{"github.com/open-policy-agent/opa/v1/rego"}, Deps: []string{"github.com/open-policy-agent/opa/v1/rego"}},
		{ImportPath: m + "/gateway/balance", Imports: []string{m + "/plugins"}, Deps: []string{m + "/plugins", m + "/filters", m + "/policy"}},
		{ImportPath: m + "/sdk/conformance", Imports: []string{m + "/gateway"}, Deps: []string{m + "/gateway"}},
		{ImportPath: m + "/sdk/tck", Imports: []string{m + "/plugins"}, Deps: []string{m + "/plugins", m + "/filters"}},
		{ImportPath: "other.org/x", Imports: []string{m + "/cmd/weir"}, Deps: []string{m + "/cmd/weir"}},
	}
	type arrow struct {
		from, to string
		direct   bool
	}
	want := []arrow{
		{"gateway", "cmd/weir/flags", true},
		{"gateway/config", "filters", true},
		{"filters/native", "policy", false},
		{"plugins", "policy", true},
		{"gateway/balance", "plugins", true},
		{"gateway/balance", "policy", false},
		{"sdk/conformance", "gateway", true},
	}
	var got []arrow
	for _, v := range check(m, pkgs, rules()) {
		from, _ := relative(m, v.Pkg)
		to, _ := relative(m, v.Dep)
		got = append(got, arrow{from, to, v.Direct})
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n got  %v\n want %v", got, want)
	}

	docs := []pkg{
		{ImportPath: m + "/gateway", Name: "gateway", GoFiles: []string{"doc.go", "server.go"}},
		{ImportPath: m + "/gateway/relay", Name: "relay", GoFiles: []string{"relay.go"}},
		{ImportPath: m + "/plugins/guest", Name: "guest", GoFiles: []string{"a.go"}, IgnoredGoFiles: []string{"doc.go"}},
		{ImportPath: m + "/cmd/weir", Name: "main", GoFiles: []string{"main.go"}},
		{ImportPath: m + "/examples/chat", Name: "chat", GoFiles: []string{"chat.go"}},
		{ImportPath: m + "/sdk/go", Name: "weir", GoFiles: []string{"sdk.go"}},
		{ImportPath: m + "/tests/e2e", Name: "e2e", GoFiles: []string{"helpers.go"}},
		{ImportPath: m + "/gateway/testonly", Name: "testonly"},
	}
	if got := missingDoc(m, docs); !slices.Equal(got, []string{m + "/gateway/relay"}) {
		t.Errorf("missingDoc = %v, want only gateway/relay", got)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, rel string
		want         bool
	}{
		{"...", "", true},
		{"...", "a/b", true},
		{"gateway/...", "gateway", true},
		{"gateway/...", "gateway/config", true},
		{"gateway/...", "gatewayx", false},
		{"gateway", "gateway", true},
		{"gateway", "gateway/config", false},
		{"", "gateway", false},
	}
	for _, tt := range tests {
		if got := match(tt.pattern, tt.rel); got != tt.want {
			t.Errorf("match(%q, %q) = %v, want %v", tt.pattern, tt.rel, got, tt.want)
		}
	}
}
