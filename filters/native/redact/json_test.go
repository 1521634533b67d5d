package redact

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzUnquote: appendUnquoted decodes a JSON string as encoding/json does.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`plain`, `a\"b\\c\/d\b\f\n\r\t`, `\u00e9\u2028`, `\ud83d\ude00`, `\ud800`, `\ud800\u0041`,
		`\udc00\ud800`, `\ud800\ud800\udc00`, `é✓`, `\u0000`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		quoted := `"` + s + `"`
		if !utf8.ValidString(s) || !json.Valid([]byte(quoted)) {
			return
		}
		var want string
		if err := json.Unmarshal([]byte(quoted), &want); err != nil {
			t.Fatal(err)
		}
		if got := string(appendUnquoted(nil, []byte(s))); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

// FuzzQuote: appendQuoted writes valid JSON that decodes back to its input
// (with invalid UTF-8 replaced as encoding/json does).
func FuzzQuote(f *testing.F) {
	for _, s := range []string{``, `a"b\c`, "\x00\x1f\x7f", "é✓\U0001F600", "\xff\xfe", "\u2028"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		q := appendQuoted(nil, s)
		if !utf8.Valid(q) || !json.Valid(q) {
			t.Fatalf("%q -> %q: not valid UTF-8 JSON", s, q)
		}
		var got string
		if err := json.Unmarshal(q, &got); err != nil {
			t.Fatal(err)
		}
		if want := string([]rune(string(s))); got != want { // []rune maps bad bytes to U+FFFD
			t.Fatalf("%q -> %q -> %q, want %q", s, q, got, want)
		}
	})
}

// FuzzWalk: the JSON walk stays in bounds on any input, though rewrite only
// gives it valid JSON.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{`{"ssn":"1"}`, `{"ssn`, `"\`, `{"a":-`, `\u`, `"\u12"`, `"\ud800\u`, `{"ssn":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &redactor{fields: [][]byte{[]byte("ssn")}, repl: []byte("x"), replJSON: []byte(`"x"`), maxOut: 1 << 20}
		w := rewriter{r: r, in: in, limit: 1 << 20}
		w.walkJSON()
		if _, err := w.finish(); err != nil {
			t.Fatal(err)
		}
		appendUnquoted(nil, in)
	})
}
