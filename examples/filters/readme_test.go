package filters_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/weirproxy/weir/plugins"
)

// readmeRun is the `weir filter test` run a README shows.
type readmeRun struct {
	config string
	input  string
	output string
}

var configFlag = regexp.MustCompile(`--config '([^']*)'`)

// readREADME finds the `weir filter test ... <<'EOF'` block of the README
// in dir and the JSON block that follows it (what the run prints).
func readREADME(t *testing.T, dir string) readmeRun {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	at := strings.Index(text, "\nweir filter test ")
	if at < 0 {
		t.Fatalf("%s/README.md: no `weir filter test` run", dir)
	}
	text = text[at+1:]
	cmd, rest, _ := strings.Cut(text, "\n")
	var run readmeRun
	if m := configFlag.FindStringSubmatch(cmd); m != nil {
		run.config = m[1]
	}
	input, rest, ok := strings.Cut(rest, "\nEOF\n")
	if !strings.HasSuffix(cmd, "<<'EOF'") || !ok {
		t.Fatalf("%s/README.md: the run does not read a <<'EOF' document", dir)
	}
	run.input = input + "\n"
	_, rest, ok = strings.Cut(rest, "```json\n")
	if !ok {
		t.Fatalf("%s/README.md: no output block after the run", dir)
	}
	run.output, _, _ = strings.Cut(rest, "```")
	return run
}

// TestExampleREADMEs runs each README's `weir filter test` example and
// requires the output the README shows.
func TestExampleREADMEs(t *testing.T) {
	for _, ex := range []struct {
		dir  string
		wasm func(testing.TB) []byte
	}{
		{"pii-redact-c", piiRedact},
		{"json-allowlist-rust", jsonAllowlist},
		{"quota-go", quota},
		{"tag-as", tag},
	} {
		t.Run(ex.dir, func(t *testing.T) {
			run := readREADME(t, ex.dir)
			h, _ := newHost(t)
			var out bytes.Buffer
			if err := plugins.RunOffline(t.Context(), h, ex.wasm(t), []byte(run.config), strings.NewReader(run.input), &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != run.output {
				t.Errorf("README shows\n%s\nthe run prints\n%s", run.output, out.String())
			}
		})
	}
}
