package filters_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins"
)

// The fuzz targets run each filter's parsers (its message scanner and its
// config reader) on the host, and check what it did against an independent
// reading in Go. Text messages reach filters as valid UTF-8 (the gateway
// checks), so other inputs are skipped.
//
//	go test -fuzz FuzzPIIRedact ./examples/filters/

// jsonSeeds are messages that reach the corners of a JSON scanner.
var jsonSeeds = []string{
	`{}`, ` {"a":1} `, `{"a":[1,{"b":null}],"c":"\u00fc\"}"}`, `{"a":1,}`, `[1]`, `{"a"}`,
	`{"a":-0.5e+3}`, `{"a":01}`, `{"\ud83d\ude00":true}`, `{"\ud800":1}`, `{"a":"x"} {}`,
	`{"a":[[[[[[[[[[]]]]]]]]]]}`, `{"a":tru}`, `{"a":"` + "\x01" + `"}`, "", "{", `{"a":1 "b":2}`,
	`{"user":1}`, `{"us\u0065r":1}`, `{"seq":1,"b":2}`, `{"b":"\/\b\f\n\r\t"}`,
}

func FuzzPIIRedact(f *testing.F) {
	for _, s := range []string{
		"ann@example.com", "4111 1111 1111 1111", "12 4012888888881881", "a@b.c@d.e", "@@.@",
		"1-2-3-4-5-6-7-8-9-0-1-2-3-4-5-6-7-8-9-0", "✓ 378282246310005 ü x.y@z-w.io.",
	} {
		f.Add(s)
	}
	// One host and plugin for every input: loading is what costs.
	h, _ := newHost(f)
	p := load(f, h, piiRedact(f), `{"keep_last":0,"keep_domain":false}`)
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			t.Skip()
		}
		s := mustOpen(t, p, nil)
		out := s.forward(in)
		if len(out) != len(in) || !utf8.ValidString(out) {
			t.Fatalf("%q -> %q: length or UTF-8 changed", in, out)
		}
		for i := range len(in) {
			if in[i] != out[i] && (in[i] >= 0x80 || out[i] != '*') {
				t.Fatalf("%q -> %q: byte %d changed to something else than the mask", in, out, i)
			}
		}
		if card := findCard(out); card != "" {
			t.Fatalf("%q -> %q: card number %s left", in, out, card)
		}
	})
}

// findCard returns a run of 13-19 digits (not part of a longer run) that
// passes the Luhn check, if out has one.
func findCard(out string) string {
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j] >= '0' && out[j] <= '9' {
			j++
		}
		if n := j - i; n >= 13 && n <= 19 && luhn(out[i:j]) {
			return out[i:j]
		}
		i = j + 1
	}
	return ""
}

func luhn(digits string) bool {
	sum := 0
	for k := range len(digits) {
		d := int(digits[len(digits)-1-k] - '0')
		if k%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// jsonDepth is the nesting depth of valid JSON (an object holding a number
// has depth 1).
func jsonDepth(b []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// object decodes a JSON object keeping each field's raw value, or reports
// that in is not one.
func object(in []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if !json.Valid(in) || json.Unmarshal(in, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	_ = json.Compact(&b, raw)
	return b.String()
}

func FuzzJSONAllowlist(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	h, _ := newHost(f)
	p := load(f, h, jsonAllowlist(f), allowlistConfig)
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) || jsonDepth([]byte(in)) > 200 {
			t.Skip()
		}
		checkAllowlist(t, p, in)
	})
}

const allowlistConfig = `{"allow":["a","b","ü"],"max_depth":256}`

var allowed = map[string]bool{"a": true, "b": true, "ü": true}

// checkAllowlist runs in through json-allowlist loaded with
// allowlistConfig and checks the outcome against encoding/json.
func checkAllowlist(t *testing.T, p *plugins.Plugin, in string) {
	t.Helper()
	s := mustOpen(t, p, nil)
	defer s.end(1000)
	o := s.client(in)
	want, isObject := object([]byte(in))
	if !isObject {
		if o.close == nil || o.close.Code != 1008 {
			t.Fatalf("%q is not a JSON object, got %v", in, o)
		}
		return
	}
	if o.verdict != filters.Continue || o.err != nil || o.close != nil {
		t.Fatalf("%q: %v, want it forwarded", in, o)
	}
	got, ok := object([]byte(o.out))
	if !ok {
		t.Fatalf("%q -> %q: not a JSON object", in, o.out)
	}
	for k, v := range want {
		if allowed[k] && compact(got[k]) != compact(v) {
			t.Fatalf("%q -> %q: field %q is %s, want %s", in, o.out, k, got[k], v)
		}
	}
	for k := range got {
		if !allowed[k] {
			t.Fatalf("%q -> %q: field %q is not allowed", in, o.out, k)
		}
	}
}

func FuzzTag(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s, "ann")
	}
	f.Add(`{"m":1}`, `a"b\c`)
	h, _ := newHost(f)
	p := load(f, h, tag(f), tagConfig)
	f.Fuzz(func(t *testing.T, in, user string) {
		if !utf8.ValidString(in) || jsonDepth([]byte(in)) > 200 {
			t.Skip()
		}
		checkTag(t, p, in, user)
	})
}

const tagConfig = `{"max_depth":256}`

// checkTag runs in through tag loaded with tagConfig, for a session of
// user, and checks the outcome against encoding/json.
func checkTag(t *testing.T, p *plugins.Plugin, in, user string) {
	t.Helper()
	s, err := open(t, p, map[string][]string{"x-user": {user}})
	validUser := utf8.ValidString(user) && len(user) <= 64 && !strings.ContainsFunc(user, func(r rune) bool { return r < 0x20 || r == 0x7f })
	if err != nil || !validUser {
		var rej *filters.RejectError
		if validUser || !errors.As(err, &rej) || rej.Status != 400 {
			t.Fatalf("user %q: %v", user, err)
		}
		return
	}
	defer s.end(1000)
	o := s.client(in)
	want, isObject := object([]byte(in))
	_, hasUser := want["user"]
	_, hasSeq := want["seq"]
	switch {
	case !isObject:
		if o.verdict != filters.Continue || o.out != in {
			t.Fatalf("%q is not a JSON object, got %v, want it unchanged", in, o)
		}
	case hasUser || hasSeq:
		if o.close == nil || o.close.Code != 1008 {
			t.Fatalf("%q carries a reserved field, got %v", in, o)
		}
	default:
		got, ok := object([]byte(o.out))
		if !ok {
			t.Fatalf("%q -> %q: not a JSON object", in, o.out)
		}
		var gotUser string
		if json.Unmarshal(got["user"], &gotUser) != nil || gotUser != user || string(got["seq"]) != "1" {
			t.Fatalf("%q -> %q: user %s seq %s, want %q 1", in, o.out, got["user"], got["seq"], user)
		}
		if len(got) != len(want)+2 {
			t.Fatalf("%q -> %q: fields lost or added", in, o.out)
		}
	}
}

// TestExampleJSONScanners puts each byte a string scanner must notice (a
// quote, a backslash, a control character) at every offset around the
// eight-byte steps of the scanners' fast path, and checks both JSON
// filters against encoding/json.
func TestExampleJSONScanners(t *testing.T) {
	h, _ := newHost(t)
	allowlist := load(t, h, jsonAllowlist(t), allowlistConfig)
	tagged := load(t, h, tag(t), tagConfig)
	for _, special := range []string{`\"`, `\\`, `\u00fc`, "\x01", `"`, "\t"} {
		for before := range 18 {
			for after := range 3 {
				in := `{"a":"` + strings.Repeat("x", before) + special + strings.Repeat("ü", after) + `","user2":1}`
				checkAllowlist(t, allowlist, in)
				checkTag(t, tagged, in, "ann")
			}
		}
	}
}

// FuzzConfigs feeds config bytes to the four filters, each of which reads
// its config with a small parser of its own: a load either succeeds or
// fails with ErrInitFailed, and a loaded filter still handles a message.
func FuzzConfigs(f *testing.F) {
	seeds := [][]string{
		{``, `{"email":false,"mask":"#"}`, `{"keep_last":0}`, `{"mask":"\u0041"}`, `{"email":true,}`},
		{`{}`, `{"allow":["a"],"on_violation":"drop"}`, `{"allow":["\ud83d\ude00"]}`, `{"allow":[],"max_depth":256}`},
		{`{"user_field":"from","seq_field":"n"}`, `{"require_user":true,"on_invalid":"close"}`, `{"max_sessions":65536}`},
		{`{"window":"10s","max_messages":5,"max_bytes":1024,"on_exceed":"drop","reason":"sl\u00f6w \ud83d\ude00"}`, `{"max_messages":1e3}`},
	}
	for which, list := range seeds {
		for _, s := range list {
			f.Add(uint8(which), s)
		}
	}
	h, _ := newHost(f)
	modules := [][]byte{piiRedact(f), jsonAllowlist(f), tag(f), quota(f)}
	f.Fuzz(func(t *testing.T, which uint8, config string) {
		wasm := modules[int(which)%len(modules)]
		p, err := h.Load(t.Context(), "example", wasm, []byte(config))
		if err != nil {
			if !errors.Is(err, plugins.ErrInitFailed) {
				t.Fatalf("config %q: %v, want ErrInitFailed", config, err)
			}
			return
		}
		defer p.Release(t.Context())
		s, err := open(t, p, nil)
		if err != nil {
			var rej *filters.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("config %q: handshake: %v", config, err)
			}
			return
		}
		if o := s.client(`{"a":1}`); o.err != nil {
			t.Fatalf("config %q: message: %v", config, o)
		}
	})
}
