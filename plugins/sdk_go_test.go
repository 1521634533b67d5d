package plugins

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins/pluginstest"
)

// The Go SDK (sdk/go) examples, built at test time with the command of
// sdk/go/README.md and run by the real Host. The helpers below are shared
// by the tests of every guest SDK (sdk_*_test.go).

// sdkHostOptions is the host of the SDK tests: one shard, and a call
// deadline of 1 s instead of 10 ms. These tests check what the guests
// compute; under -race the host side of a 1 MiB message (copy in, meter
// yields, copy out) and the Go runtime's first allocation of a 1.3 MiB
// buffer take 7-22 ms, against 0.3-2.3 ms without it.
var sdkHostOptions = HostOptions{Shards: 1, CallTimeout: time.Second}

// buildGoGuest builds sdk/go/examples/<name> with the command of
// sdk/go/README.md, once per test binary.
func buildGoGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	return pluginstest.Go(tb, "sdk/go/examples/"+name)
}

// loadGuest loads a module into h and opens one session through it.
func loadGuest(tb testing.TB, h *Host, name string, wasm []byte) *testSession {
	tb.Helper()
	p, err := h.Load(context.Background(), name, wasm, nil)
	if err != nil {
		tb.Fatalf("load %s: %v", name, err)
	}
	tb.Cleanup(func() { _ = p.Release(context.Background()) })
	ts := newSession(tb, p, map[string][]string{"X-User": {"ann"}})
	ts.open()
	return ts
}

// textPayload is n bytes of lower-case ASCII (valid UTF-8 the filter may
// rewrite); binaryPayload is n random bytes.
func textPayload(n int) []byte {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	for i := range p {
		p[i] = 'a' + p[i]%26
	}
	return p
}

func binaryPayload(n int) []byte {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return p
}

// testSDKPassthrough checks a passthrough guest forwards 0 B, 1 KiB and
// 1 MiB text and binary messages byte for byte, in both directions.
func testSDKPassthrough(t *testing.T, wasm []byte) {
	h := newTestHost(t, sdkHostOptions)
	ts := loadGuest(t, h, "passthrough", wasm)
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, size := range []int{0, 1 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("op%d/%s", op, sizeName(size)), func(t *testing.T) {
				payload := binaryPayload(size)
				if op == ws.OpText {
					payload = textPayload(size)
				}
				want := sha256.Sum256(payload)
				for _, dir := range []filters.Direction{filters.ClientToBackend, filters.BackendToClient} {
					m := &filters.Message{Dir: dir, Op: op, Payload: bytes.Clone(payload), Fin: true}
					v, err := ts.f.OnMessage(context.Background(), ts.s, m)
					if err != nil || v != filters.Continue {
						t.Fatalf("verdict %v, error %v", v, err)
					}
					if got := sha256.Sum256(m.Payload); got != want || len(m.Payload) != size {
						t.Fatalf("payload changed: %d bytes", len(m.Payload))
					}
				}
			})
		}
	}
	ts.close(1000)
}

// testSDKUppercase checks an uppercase guest rewrites text, leaves binary
// alone and counts the text messages in the metric uppercase_messages.
func testSDKUppercase(t *testing.T, wasm []byte) {
	h := newTestHost(t, sdkHostOptions)
	ts := loadGuest(t, h, "uppercase", wasm)
	tests := []struct{ in, want string }{
		{"", ""},
		{"hello, world", "HELLO, WORLD"},
		{"ünïcödé stays ok", "üNïCöDé STAYS OK"},
		{strings.Repeat("ab", 40000), strings.Repeat("AB", 40000)},
	}
	for _, tt := range tests {
		if got := ts.must(tt.in); got != tt.want {
			t.Fatalf("%.20q: got %.20q", tt.in, got)
		}
	}
	m := &filters.Message{Dir: filters.BackendToClient, Op: ws.OpBinary, Payload: []byte("abc"), Fin: true}
	if _, err := ts.f.OnMessage(context.Background(), ts.s, m); err != nil || string(m.Payload) != "abc" {
		t.Fatalf("binary: %q %v", m.Payload, err)
	}
	ts.close(1000)
	for _, mv := range h.Metrics() {
		if mv.Name == "uppercase_messages" && mv.Kind == Counter && mv.Value == int64(len(tests)) {
			return
		}
	}
	t.Fatalf("metric uppercase_messages=%d missing: %+v", len(tests), h.Metrics())
}

// benchSDKNoOp is the hot path through a passthrough guest.
func benchSDKNoOp(b *testing.B, wasm []byte) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			h := newTestHost(b, HostOptions{Shards: 1})
			ts := loadGuest(b, h, "passthrough", wasm)
			payload := textPayload(size)
			m := &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Fin: true}
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				m.Payload = payload
				if _, err := ts.f.OnMessage(ctx, ts.s, m); err != nil {
					b.Fatal(err)
				}
			}
			ts.close(1000)
		})
	}
}

func TestSDKGoPassthrough(t *testing.T) { testSDKPassthrough(t, buildGoGuest(t, "passthrough")) }

func TestSDKGoUppercase(t *testing.T) { testSDKUppercase(t, buildGoGuest(t, "uppercase")) }

// BenchmarkSDKGoNoOp is the hot path through the Go SDK's passthrough
// example (standard Go toolchain, wasip1 reactor, metered module).
//
// Figures (2-vCPU Intel Xeon VM, Go 1.26.8;
// go test -run '^$' -bench SDKGoNoOp -benchtime=20000x ./plugins/;
// the three SDKs measured in one run):
//
//	64B      55 ns/op   0 allocs/op
//	1KiB     64 ns/op   0 allocs/op
//	64KiB   2.8 µs/op   0 allocs/op
func BenchmarkSDKGoNoOp(b *testing.B) { benchSDKNoOp(b, buildGoGuest(b, "passthrough")) }
