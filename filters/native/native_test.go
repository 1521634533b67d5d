package native_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/knadh/koanf/parsers/yaml"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/native"
)

func TestRegistry(t *testing.T) {
	r, err := filters.NewRegistry(native.All()...)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Names(), []string{"json_only", "redact", "size_limit"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
}

// TestEveryFolderListed: a filter folder that All leaves out is dead code.
func TestEveryFolderListed(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	folders := 0
	for _, d := range dirs {
		if d.IsDir() && d.Name() != "testdata" {
			folders++
		}
	}
	if folders != len(native.All()) {
		t.Fatalf("%d filter folders, All lists %d", folders, len(native.All()))
	}
}

// TestReadmes runs the README of every filter, its package comment: the
// sections are there, and every filter in its YAML examples builds from its
// config block the way the gateway hands it over (YAML, then JSON).
func TestReadmes(t *testing.T) {
	r, err := filters.NewRegistry(native.All()...)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob("*/doc.go")
	if err != nil || len(docs) == 0 {
		t.Fatalf("no doc.go files: %v", err)
	}
	seen := map[string]bool{}
	for _, path := range docs {
		t.Run(filepath.Dir(path), func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Fatal(err)
			}
			doc := f.Doc.Text()
			for _, section := range []string{"# Description", "# Configuration", "# Example", "# Cost"} {
				if !strings.Contains(doc, "\n"+section+"\n") {
					t.Errorf("README has no %q section", section)
				}
			}
			examples := yamlBlocks(doc)
			if len(examples) == 0 {
				t.Fatal("README has no YAML example")
			}
			for _, ex := range examples {
				conf, err := yaml.Parser().Unmarshal([]byte(ex))
				if err != nil {
					t.Fatalf("example does not parse: %v\n%s", err, ex)
				}
				list, _ := conf["filters"].([]any)
				if len(list) == 0 {
					t.Fatalf("example has no filters list:\n%s", ex)
				}
				for i, e := range list {
					entry, _ := e.(map[string]any)
					name, _ := entry["native"].(string)
					info, ok := r.Lookup(name)
					if !ok {
						t.Fatalf("example filter %d: no native filter %q", i, name)
					}
					seen[name] = true
					raw, err := json.Marshal(entry["config"])
					if err != nil {
						t.Fatal(err)
					}
					if _, err := info.New(raw); err != nil {
						t.Errorf("example filter %d (%s): %v", i, name, err)
					}
				}
			}
		})
	}
	for _, name := range r.Names() {
		if !seen[name] {
			t.Errorf("no README example uses %s", name)
		}
	}
}

// yamlBlocks returns the indented blocks of a doc comment that start with
// "filters:".
func yamlBlocks(doc string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 && strings.HasPrefix(cur[0], "filters:") {
			blocks = append(blocks, strings.Join(cur, "\n"))
		}
		cur = nil
	}
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(line, "\t") {
			cur = append(cur, strings.TrimPrefix(line, "\t"))
			continue
		}
		flush()
	}
	flush()
	return blocks
}
