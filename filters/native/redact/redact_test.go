package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/filterstest"
	"github.com/weirproxy/weir/filters/native/redact"
)

func mustNew(t testing.TB, raw string) filters.Factory {
	t.Helper()
	f, err := redact.Info().New(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("New(%s): %v", raw, err)
	}
	return f
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		key     string
		wantErr error // nil: the config is good
	}{
		{"fields", `{"fields": ["ssn"]}`, "", nil},
		{"patterns", `{"patterns": ["\\d{3}"]}`, "", nil},
		{"everything", `{"fields": ["a"], "patterns": ["b+"], "replacement": "", "max_output_bytes": 10}`, "", nil},
		{"absent", ``, "fields", filters.ErrMissingKey},
		{"neither", `{"replacement": "x"}`, "fields", filters.ErrMissingKey},
		{"empty lists", `{"fields": [], "patterns": []}`, "fields", filters.ErrMissingKey},
		{"empty field", `{"fields": ["a", ""]}`, "fields[1]", filters.ErrBadValue},
		{"bad regexp", `{"patterns": ["ok", "(unclosed"]}`, "patterns[1]", filters.ErrBadValue},
		{"matches empty", `{"patterns": ["a", "x*"]}`, "patterns[1]", filters.ErrBadValue},
		{"only an anchor", `{"patterns": ["^"]}`, "patterns[0]", filters.ErrBadValue},
		{"optional group", `{"patterns": ["(?:abc)?"]}`, "patterns[0]", filters.ErrBadValue},
		{"zero repeat", `{"patterns": ["a{0,3}"]}`, "patterns[0]", filters.ErrBadValue},
		{"alternative empty", `{"patterns": ["a|"]}`, "patterns[0]", filters.ErrBadValue},
		{"bad max", `{"fields": ["a"], "max_output_bytes": 0}`, "max_output_bytes", filters.ErrBadValue},
		{"fields not a list", `{"fields": "ssn"}`, "fields", filters.ErrBadValue},
		{"unknown key", `{"fields": ["a"], "field": ["b"]}`, "field", filters.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := redact.Info().New(json.RawMessage(tt.raw))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ce *filters.ConfigError
			if !errors.As(err, &ce) || ce.Filter != redact.Name || ce.Key != tt.key || !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: got %v; want a *filters.ConfigError for key %q wrapping %v", err, tt.key, tt.wantErr)
			}
		})
	}
	t.Run("regexp error is kept", func(t *testing.T) {
		_, err := redact.Info().New(json.RawMessage(`{"patterns": ["a(b"]}`))
		var se *syntax.Error
		if !errors.As(err, &se) {
			t.Fatalf("New: %v does not wrap a *syntax.Error", err)
		}
	})
}

const testConfig = `{
	"fields": ["ssn", "card", "password"],
	"patterns": ["\\b\\d{3}-\\d{2}-\\d{4}\\b", "(?i)secret\\w*", "^\\d{9}$"],
	"replacement": "[R]"
}`

func TestRewrite(t *testing.T) {
	tests := []struct {
		name   string
		config string // testConfig when empty
		in     string
		want   string
	}{
		{"top-level field", "", `{"ssn":"123456789","name":"ann"}`, `{"ssn":"[R]","name":"ann"}`},
		{"number value", "", `{"card": 4111111111111111, "n": 1}`, `{"card": "[R]", "n": 1}`},
		{"nested and in arrays", "", `{"a":{"b":[{"ssn":"x"},{"password":"y"}]}}`, `{"a":{"b":[{"ssn":"[R]"},{"password":"[R]"}]}}`},
		{"ignores case", "", `{"SSN":"1","Card":2}`, `{"SSN":"[R]","Card":"[R]"}`},
		{"escaped key", "", `{"s\u0073n":"1"}`, `{"s\u0073n":"[R]"}`},
		{"object value walked into", "", `{"password":{"ssn":"1","x":true}}`, `{"password":{"ssn":"[R]","x":true}}`},
		{"literals stay", "", `{"ssn":null,"card":true,"password":false}`, `{"ssn":null,"card":true,"password":false}`},
		{"array value walked into", "", `{"ssn":["1",2]}`, `{"ssn":["1",2]}`},
		{"key text in a value", "", `{"note":"\"ssn\": 5","ssn" : "5"}`, `{"note":"\"ssn\": 5","ssn" : "[R]"}`},
		{"duplicate keys", "", `{"ssn":"1","ssn":"2"}`, `{"ssn":"[R]","ssn":"[R]"}`},
		{"whitespace around", "", "{ \"ssn\" \n:\t\"1\" }", "{ \"ssn\" \n:\t\"[R]\" }"},
		{"pattern in a value", "", `{"note":"call 123-45-6789 now"}`, `{"note":"call [R] now"}`},
		{"pattern in a key", "", `{"my secret":1}`, `{"my [R]":1}`},
		{"pattern in escaped text", "", `{"note":"\u0031\u0032\u0033-45-6789\n"}`, `{"note":"[R]\n"}`},
		{"anchors per string", "", `{"a":"123456789","b":"1234567890"}`, `{"a":"[R]","b":"1234567890"}`},
		{"number matching a pattern", "", `[123456789, 12]`, `["[R]", 12]`},
		{"top-level string", "", `"SECRETS"`, `"[R]"`},
		{"not JSON: patterns anywhere", "", `my ssn is 123-45-6789, secret: {`, `my ssn is [R], [R]: {`},
		{"not JSON: anchors on the message", "", `123456789 x`, `123456789 x`},
		{"not JSON: fields do nothing", "", `ssn: 123`, `ssn: 123`},
		{"nothing to do", "", `{"name":"ann","n":[1,2.5e3,-1]}`, `{"name":"ann","n":[1,2.5e3,-1]}`},
		{"empty", "", ``, ``},
		{"replacement is escaped", `{"fields":["a"],"replacement":"\"q\" \\ ✓"}`, `{"a":"x"}`, `{"a":"\"q\" \\ ✓"}`},
		{"empty replacement", `{"patterns":["x+"],"replacement":""}`, `{"k":"axxb"}`, `{"k":"ab"}`},
		{"multi-byte text", `{"patterns":["é+"]}`, `{"k":"cafééé ✓"}`, `{"k":"caf[REDACTED] ✓"}`},
		{"control characters after rewrite", `{"patterns":["x"]}`, `{"k":"x\u0001\t"}`, `{"k":"[REDACTED]\u0001\t"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.config
			if cfg == "" {
				cfg = testConfig
			}
			got := filterstest.Run(t, mustNew(t, cfg), []filters.Message{filterstest.Text(filters.BackendToClient, tt.in)})[0]
			if got.Verdict != filters.Continue || got.Err != nil {
				t.Fatalf("verdict %v, error %v", got.Verdict, got.Err)
			}
			if string(got.Payload) != tt.want {
				t.Fatalf("\n got %s\nwant %s", got.Payload, tt.want)
			}
			if json.Valid([]byte(tt.in)) && !json.Valid(got.Payload) {
				t.Fatalf("output is not JSON: %s", got.Payload)
			}
			if !utf8.Valid(got.Payload) {
				t.Fatalf("output is not UTF-8: %q", got.Payload)
			}
		})
	}
}

func TestBinaryUntouched(t *testing.T) {
	in := []byte(`{"ssn":"123-45-6789"}`)
	got := filterstest.Run(t, mustNew(t, testConfig), []filters.Message{filterstest.Binary(filters.ClientToBackend, in)})[0]
	if got.Verdict != filters.Continue || !bytes.Equal(got.Payload, in) {
		t.Fatalf("binary message: %v %q", got.Verdict, got.Payload)
	}
}

func TestOutputBound(t *testing.T) {
	tests := []struct {
		name, config, in string
		fails            bool
	}{
		{"pattern growth", `{"patterns":["a"],"replacement":"0123456789","max_output_bytes":100}`, strings.Repeat("a", 20), true},
		{"field growth", `{"fields":["a"],"replacement":"0123456789","max_output_bytes":30}`, `[{"a":1},{"a":2},{"a":3}]`, true},
		{"growth within the bound", `{"patterns":["a"],"replacement":"0123456789","max_output_bytes":200}`, strings.Repeat("a", 20), false},
		{"shrinking past the bound", `{"patterns":["a+"],"max_output_bytes":1}`, strings.Repeat("a", 50), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := filterstest.Run(t, mustNew(t, tt.config), []filters.Message{filterstest.Text(filters.ClientToBackend, tt.in)})[0]
			if tt.fails != errors.Is(got.Err, redact.ErrOutputTooLarge) {
				t.Fatalf("error %v, want ErrOutputTooLarge: %t", got.Err, tt.fails)
			}
			if tt.fails && string(got.Payload) != tt.in {
				t.Fatalf("a failed rewrite changed the payload to %q", got.Payload)
			}
		})
	}
}

// TestChainFailsClosed: a redaction that fails closes the session with 1011
// rather than letting the message through.
func TestChainFailsClosed(t *testing.T) {
	chain := filters.NewChain(filters.Entry{Name: "redact",
		Factory: mustNew(t, `{"patterns":["a"],"replacement":"0123456789","max_output_bytes":10}`)})
	in, err := chain.New(t.Context(), filterstest.NewSession(t))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(t.Context(), 1000)
	m := filterstest.Text(filters.ClientToBackend, "aaaa")
	v, err := in.OnMessage(t.Context(), &m)
	var ce *filters.CloseError
	if v != filters.Close || !errors.As(err, &ce) || ce.Code != 1011 {
		t.Fatalf("got %v %v, want close 1011", v, err)
	}
}

func TestNoAllocationWithoutMatch(t *testing.T) {
	tests := []struct{ name, config, in string }{
		{"fields, JSON", `{"fields":["ssn","card"]}`, `{"name":"ann","items":[{"id":1,"text":"hello"}],"ok":true}`},
		{"fields, escaped JSON", `{"fields":["ssn","card"]}`, `{"na\u006de":"ann","text":"line\nline"}`},
		{"patterns, JSON", testConfig, `{"name":"ann","items":[{"id":1,"text":"hello"}],"ok":true}`},
		{"patterns, escaped JSON", testConfig, `{"text":"line\nline \u00e9"}`},
		{"patterns, text", testConfig, `hello world, nothing to see`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flt, err := mustNew(t, tt.config).NewFilter(t.Context(), filterstest.NewSession(t))
			if err != nil {
				t.Fatal(err)
			}
			m := filterstest.Text(filters.ClientToBackend, tt.in)
			if r := filterstest.Run(t, mustNew(t, tt.config), []filters.Message{m})[0]; string(r.Payload) != tt.in || r.Err != nil {
				t.Fatalf("payload changed to %q (%v)", r.Payload, r.Err)
			}
			if allocs := filterstest.AllocsPerMessage(t, flt, m, 100); allocs != 0 {
				t.Fatalf("%v allocations per message", allocs)
			}
		})
	}
}

func TestConformance(t *testing.T) {
	for _, raw := range []string{
		testConfig,
		`{"fields": ["user", "n"]}`,
		`{"patterns": ["[aeiou]"], "replacement": "\u00e9", "max_output_bytes": 4194304}`,
	} {
		t.Run(raw, func(t *testing.T) {
			filterstest.Conformance(t, mustNew(t, raw))
		})
	}
}

// FuzzRewrite checks, for any text message: the output is valid UTF-8 when
// the input is, valid JSON when the input is, and in JSON output no
// configured field holds a string or number other than the replacement and
// no string matches a pattern.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		`{"ssn":"123-45-6789"}`, `{"a":[{"SSN":1e5}],"b":"secret!"}`, `{"s\u0073n":"x"}`,
		`"\ud83d\ude00 123-45-6789"`, `[1,"2",{"card":{"card":[]}}]`, `plain 123-45-6789 text`,
		`{"k":"\u0000\"\\"}`, `{"a":"\ud800"}`, "{\"\xff\":1}", `{"ssn": -0.5E+3}`,
	} {
		f.Add([]byte(s))
	}
	fac := mustNew(f, testConfig)
	patterns := regexp.MustCompile(`\b\d{3}-\d{2}-\d{4}\b|(?i)secret`)
	f.Fuzz(func(t *testing.T, in []byte) {
		flt, err := fac.NewFilter(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		m := filters.Message{Dir: filters.ClientToBackend, Op: 1, Payload: bytes.Clone(in), Fin: true}
		if _, err := flt.OnMessage(t.Context(), nil, &m); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		out := m.Payload
		if utf8.Valid(in) && !utf8.Valid(out) {
			t.Fatalf("%q -> %q: not UTF-8", in, out)
		}
		if !json.Valid(in) {
			return
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%q -> %q: not JSON: %v", in, out, err)
		}
		if !utf8.Valid(in) {
			return // encoding/json would see U+FFFD where the filter saw bytes
		}
		if err := checkRedacted(v, false, patterns); err != nil {
			t.Fatalf("%q -> %q: %v", in, out, err)
		}
	})
}

// checkRedacted walks a decoded JSON value; field says v is the value of a
// configured field.
func checkRedacted(v any, field bool, patterns *regexp.Regexp) error {
	switch v := v.(type) {
	case string:
		if field && v != "[R]" {
			return fmt.Errorf("field value %q left", v)
		}
		if patterns.MatchString(v) {
			return fmt.Errorf("string %q matches", v)
		}
	case float64:
		if field {
			return fmt.Errorf("field value %v left", v)
		}
	case []any:
		for _, e := range v {
			if err := checkRedacted(e, false, patterns); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range v {
			if patterns.MatchString(k) {
				return fmt.Errorf("key %q matches", k)
			}
			isField := false
			for _, f := range []string{"ssn", "card", "password"} {
				isField = isField || strings.EqualFold(k, f)
			}
			if err := checkRedacted(e, isField, patterns); err != nil {
				return err
			}
		}
	}
	return nil
}

// FuzzConfig: any config block yields a factory or a *filters.ConfigError,
// never a panic.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{``, `{"fields": ["a"]}`, `{"patterns": ["(a"]}`, `{"patterns": ["a*"]}`, `{"patterns": ["\\b\\d+"], "replacement": "\u00e9"}`, `{"fields": [1]}`, `{"max_output_bytes": -1, "fields": ["x"]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { filterstest.CheckNew(t, redact.Info(), raw) })
}

// BenchmarkOnMessage: JSON messages with nothing to redact (fields and
// patterns), with one field to redact, and plain text with nothing to do.
//
// go test -run=^$ -bench=. -benchmem ./filters/...
// (shared 2-core Intel Xeon VM, go1.26.8, first version):
//
//	json-fields-nomatch/64B          301.3 ns/op     212.44 MB/s      0 B/op 0 allocs/op
//	json-fields-nomatch/1KiB          5074 ns/op     201.83 MB/s      0 B/op 0 allocs/op
//	json-fields-nomatch/64KiB       310688 ns/op     210.94 MB/s      0 B/op 0 allocs/op
//	json-patterns-nomatch/64B         1049 ns/op      60.98 MB/s      0 B/op 0 allocs/op
//	json-patterns-nomatch/1KiB        6762 ns/op     151.44 MB/s      0 B/op 0 allocs/op
//	json-patterns-nomatch/64KiB     336178 ns/op     194.94 MB/s      0 B/op 0 allocs/op
//	json-match/64B                    1494 ns/op      42.85 MB/s     80 B/op 1 allocs/op
//	json-match/1KiB                   5992 ns/op     170.89 MB/s   1280 B/op 1 allocs/op
//	json-match/64KiB                358984 ns/op     182.56 MB/s  81927 B/op 1 allocs/op
//	text-nomatch/64B                  3372 ns/op      18.98 MB/s      0 B/op 0 allocs/op
//	text-nomatch/1KiB                49177 ns/op      20.82 MB/s      1 B/op 0 allocs/op
//	text-nomatch/64KiB             3309029 ns/op      19.81 MB/s     17 B/op 0 allocs/op
//
// text-nomatch is Go's regexp scanning the whole message with patterns
// that have no literal prefix; the few B/op are its pooled machines.
func BenchmarkOnMessage(b *testing.B) {
	cases := []struct {
		name   string
		config string
		msg    func(size int) []byte
	}{
		{"json-fields-nomatch", `{"fields":["ssn","card","password"]}`, func(n int) []byte { return jsonOfSize(n, "") }},
		{"json-patterns-nomatch", testConfig, func(n int) []byte { return jsonOfSize(n, "") }},
		{"json-match", testConfig, func(n int) []byte { return jsonOfSize(n, `"ssn":"123-45-6789",`) }},
		{"text-nomatch", testConfig, func(n int) []byte { return bytes.Repeat([]byte("lorem ipsum "), n/12+1)[:n] }},
	}
	for _, c := range cases {
		for _, size := range []int{64, 1 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%s", c.name, sizeName(size)), func(b *testing.B) {
				flt, err := mustNew(b, c.config).NewFilter(b.Context(), nil)
				if err != nil {
					b.Fatal(err)
				}
				payload := c.msg(size)
				m := filters.Message{Dir: filters.BackendToClient, Op: 1, Fin: true}
				b.ReportAllocs()
				b.SetBytes(int64(len(payload)))
				for b.Loop() {
					m.Payload = payload
					if _, err := flt.OnMessage(b.Context(), nil, &m); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// jsonOfSize returns a JSON object of chat-like records about n bytes long,
// starting with extra inside the object.
func jsonOfSize(n int, extra string) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{` + extra + `"items":[`)
	for i := 0; buf.Len() < n-40; i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"id":%d,"text":"hi","ok":true}`, i)
	}
	buf.WriteString(`],"pad":"`)
	for buf.Len() < n-2 {
		buf.WriteByte('x')
	}
	buf.WriteString(`"}`)
	return buf.Bytes()
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
