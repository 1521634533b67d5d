package filters_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// BenchmarkExamples runs one client text message through each example
// filter, as the gateway does (copy in, one guest call, copy out). The
// message is a JSON object of short fields each holding a card number and
// an address: the worst case for the scanners, which skip plain text and
// string contents eight bytes at a time.
//
// Figures (2-vCPU Intel Xeon VM shared with other jobs, Go 1.26.8;
// go test -run '^$' -bench Examples -benchtime 100x ./examples/filters/):
//
//	pii-redact-c/1MiB          4.8 ms/op   0 allocs/op
//	json-allowlist-rust/1MiB   4.8 ms/op   0 allocs/op
//	quota-go/1MiB              0.14 ms/op  0 allocs/op
//	tag-as/1MiB                3.4 ms/op   0 allocs/op
//
// (before the word-at-a-time skips and the scalar fast path of the Rust
// scanner: 6.1, 8.1, -, 3.0 ms.) A 1 MiB message of plain text, or of one
// long string, takes 0.4-0.5 ms in each. Both stay inside the gateway's
// default CPU bound of 10 ms per call.
func BenchmarkExamples(b *testing.B) {
	unit := `"text":"card 4111 1111 1111 1111, write to ann@example.com ✓",`
	sizes := []struct {
		name string
		msg  string
	}{
		{"1KiB", `{` + strings.Repeat(unit, 1<<10/len(unit)) + `"room":"lobby"}`},
		{"1MiB", `{` + strings.Repeat(unit, (1<<20-2048)/len(unit)) + `"room":"lobby"}`},
	}
	for _, ex := range []struct {
		name   string
		wasm   func(testing.TB) []byte
		config string
	}{
		{"pii-redact-c", piiRedact, ""},
		{"json-allowlist-rust", jsonAllowlist, `{"allow":["room"]}`},
		{"quota-go", quota, `{"max_messages":1000000000}`},
		{"tag-as", tag, ""},
	} {
		h, _ := newHost(b)
		p := load(b, h, ex.wasm(b), ex.config)
		for _, size := range sizes {
			b.Run(ex.name+"/"+size.name, func(b *testing.B) {
				s := mustOpen(b, p, map[string][]string{"x-user": {"ann"}})
				in := []byte(size.msg)
				m := &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Fin: true}
				buf := make([]byte, 0, 2*len(in))
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					// Each run starts from the original message: the
					// filters rewrite it in place.
					m.Payload = append(buf[:0], in...)
					if v, err := s.f.OnMessage(context.Background(), s.s, m); err != nil || v != filters.Continue {
						b.Fatalf("verdict %v, error %v", v, err)
					}
				}
			})
		}
	}
}
