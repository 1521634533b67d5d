package plugins

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The filters in sdk/c/README.md build and run as the README says.
func TestCReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../sdk/c/README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```c\n")[1:]
	h := newTestHost(t, HostOptions{Shards: 1})
	n := 0
	for i, b := range blocks {
		src := b[:strings.Index(b, "```")]
		if !strings.Contains(src, "weir_on_message") {
			continue
		}
		n++
		if !strings.Contains(src, `#include "weir.h"`) {
			src = "#include \"weir.h\"\n" + src
		}
		path := filepath.Join(t.TempDir(), "readme.c")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		p := loadC(t, h, path, "")
		ts := newSession(t, p, nil)
		if got := ts.must("hello"); got != "hello" && got != "HELLO" {
			t.Fatalf("block %d: %q", i, got)
		}
		ts.close(1000)
	}
	if n < 2 {
		t.Fatalf("found %d filter examples in the README", n)
	}
}
