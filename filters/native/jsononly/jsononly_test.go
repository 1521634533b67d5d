package jsononly_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/filterstest"
	"github.com/weirproxy/weir/filters/native/jsononly"
)

func mustNew(t testing.TB, raw string) filters.Factory {
	t.Helper()
	f, err := jsononly.Info().New(json.RawMessage(raw))
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
		{"absent", ``, "", nil},
		{"empty", `{}`, "", nil},
		{"all keys", `{"require_object": true, "action": "drop", "binary": "close"}`, "", nil},
		{"bad action", `{"action": "allow"}`, "action", filters.ErrBadValue},
		{"bad binary", `{"binary": "reject"}`, "binary", filters.ErrBadValue},
		{"require_object not bool", `{"require_object": "yes"}`, "require_object", filters.ErrBadValue},
		{"unknown key", `{"require_objects": true}`, "require_objects", filters.ErrUnknownKey},
		{"not an object", `["close"]`, "", filters.ErrBadValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jsononly.Info().New(json.RawMessage(tt.raw))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			var ce *filters.ConfigError
			if !errors.As(err, &ce) || ce.Filter != jsononly.Name || ce.Key != tt.key || !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: got %v; want a *filters.ConfigError for key %q wrapping %v", err, tt.key, tt.wantErr)
			}
		})
	}
}

func TestMessages(t *testing.T) {
	c2b := filters.ClientToBackend
	text := func(s string) filters.Message { return filterstest.Text(c2b, s) }
	bin := filterstest.Binary(c2b, []byte{0xff, 0})
	type want struct {
		verdict filters.Verdict
		code    uint16 // for Close
	}
	pass, drop := want{verdict: filters.Continue}, want{verdict: filters.Drop}
	closeInvalid := want{filters.Close, jsononly.InvalidCode}
	closeBinary := want{filters.Close, jsononly.BinaryCode}
	tests := []struct {
		config string
		msg    filters.Message
		want   want
	}{
		{`{}`, text(`{"a":1}`), pass},
		{`{}`, text(` [1, "two", null] `), pass},
		{`{}`, text(`"str"`), pass},
		{`{}`, text(`42`), pass},
		{`{}`, text(`{"a":1`), closeInvalid},
		{`{}`, text(`{"a":1} {"b":2}`), closeInvalid},
		{`{}`, text(``), closeInvalid},
		{`{}`, text(`hello`), closeInvalid},
		{`{}`, text(`{'a':1}`), closeInvalid},
		{`{}`, text(strings.Repeat("[", 10001) + strings.Repeat("]", 10001)), closeInvalid},
		{`{}`, bin, pass},
		{`{"action": "drop"}`, text(`nope`), drop},
		{`{"action": "drop"}`, text(`{}`), pass},
		{`{"require_object": true}`, text(" \n{\"a\":[1]}"), pass},
		{`{"require_object": true}`, text(`[{"a":1}]`), closeInvalid},
		{`{"require_object": true}`, text(`null`), closeInvalid},
		{`{"require_object": true, "action": "drop"}`, text(`"{"`), drop},
		{`{"binary": "drop"}`, bin, drop},
		{`{"binary": "close"}`, bin, closeBinary},
		{`{"binary": "close"}`, text(`{}`), pass},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %.20q", tt.config, tt.msg.Payload), func(t *testing.T) {
			got := filterstest.Run(t, mustNew(t, tt.config), []filters.Message{tt.msg})[0]
			if got.Verdict != tt.want.verdict {
				t.Fatalf("verdict %v, want %v", got.Verdict, tt.want.verdict)
			}
			switch {
			case tt.want.verdict == filters.Close && (got.Close == nil || got.Close.Code != tt.want.code):
				t.Fatalf("close %v, want code %d", got.Err, tt.want.code)
			case tt.want.verdict != filters.Close && got.Err != nil:
				t.Fatalf("error %v", got.Err)
			case !bytes.Equal(got.Payload, tt.msg.Payload):
				t.Fatalf("payload changed to %q", got.Payload)
			}
		})
	}
}

func TestSharedFilter(t *testing.T) {
	// Stateless: sessions share one filter value, so NewFilter is free.
	f := mustNew(t, `{}`)
	a, _ := f.NewFilter(t.Context(), filterstest.NewSession(t))
	b, _ := f.NewFilter(t.Context(), filterstest.NewSession(t))
	if a != b {
		t.Fatal("NewFilter returned different values for a stateless filter")
	}
}

// TestNoAllocation: valid JSON, and text that cannot start a JSON text, cost
// no allocation. (Invalid JSON that starts like JSON costs encoding/json's
// error; with action close the session ends anyway.)
func TestNoAllocation(t *testing.T) {
	tests := []struct{ config, in string }{
		{`{}`, `{"a":[1,2,{"b":"c"}],"d":null}`},
		{`{"require_object": true}`, `{"a":1}`},
		{`{"require_object": true, "action": "drop"}`, `[1]`},
		{`{"action": "drop"}`, `hello`},
		{`{"action": "drop"}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.config+" "+tt.in, func(t *testing.T) {
			flt, err := mustNew(t, tt.config).NewFilter(t.Context(), filterstest.NewSession(t))
			if err != nil {
				t.Fatal(err)
			}
			if allocs := filterstest.AllocsPerMessage(t, flt, filterstest.Text(filters.ClientToBackend, tt.in), 100); allocs != 0 {
				t.Fatalf("%v allocations per message", allocs)
			}
		})
	}
}

func TestConformance(t *testing.T) {
	for _, raw := range []string{`{}`, `{"require_object": true, "binary": "close"}`, `{"action": "drop", "binary": "drop"}`} {
		t.Run(raw, func(t *testing.T) {
			filterstest.Conformance(t, mustNew(t, raw))
		})
	}
}

// FuzzOnMessage: the verdict agrees with encoding/json's decoder (which
// shares its scanner with json.Valid, but reaches it another way).
func FuzzOnMessage(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,2,{"b":null}]}`, `"\ud800"`, `1e999`, ` {"a":1} `, `{"a":1}x`, "\"\xff\"", `{"a":}`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, requireObject bool) {
		raw := fmt.Sprintf(`{"require_object": %t}`, requireObject)
		flt, err := mustNew(t, raw).NewFilter(t.Context(), filterstest.NewSession(t))
		if err != nil {
			t.Fatal(err)
		}
		m := filterstest.Text(filters.ClientToBackend, string(payload))
		v, _ := flt.OnMessage(t.Context(), nil, &m)
		// The reference: one value (numbers kept as text, so that 1e999 is
		// JSON as RFC 8259 says), then the end of the input.
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var x any
		want := dec.Decode(&x) == nil && dec.Decode(new(any)) == io.EOF
		if _, isObject := x.(map[string]any); requireObject && !isObject {
			want = false
		}
		if (v == filters.Continue) != want {
			t.Fatalf("%q: verdict %v, decoder says valid=%t", payload, v, want)
		}
	})
}

// FuzzConfig: any config block yields a factory or a *filters.ConfigError,
// never a panic.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"require_object": true, "action": "drop", "binary": "close"}`, `{"binary": 1}`, `[]`, `{"action": "x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { filterstest.CheckNew(t, jsononly.Info(), raw) })
}

// BenchmarkOnMessage validates JSON text messages of about each size.
//
// go test -run=^$ -bench=. -benchmem ./filters/...
// (shared 2-core Intel Xeon VM, go1.26.8, first version):
//
//	64B                              172.4 ns/op     371.28 MB/s      0 B/op 0 allocs/op
//	1KiB                              2601 ns/op     393.65 MB/s      0 B/op 0 allocs/op
//	64KiB                           159785 ns/op     410.15 MB/s      0 B/op 0 allocs/op
func BenchmarkOnMessage(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			payload := jsonOfSize(size)
			flt, err := mustNew(b, `{"require_object": true}`).NewFilter(b.Context(), filterstest.NewSession(b))
			if err != nil {
				b.Fatal(err)
			}
			m := filterstest.Text(filters.ClientToBackend, string(payload))
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if v, _ := flt.OnMessage(b.Context(), nil, &m); v != filters.Continue {
					b.Fatal(v)
				}
			}
		})
	}
}

// jsonOfSize returns a JSON object of chat-like records, n bytes long.
func jsonOfSize(n int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"items":[`)
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
