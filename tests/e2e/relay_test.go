package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// The relay routes: each prefix reaches an echo backend one way. The Go
// backend sees the full path, so /f/ctl and /t/ctl reach its command
// handler (backend_test.go).
const (
	framesPrefix  = "/f" // frame engine → Go backend
	builtinPrefix = "/b" // frame engine → weir's builtin:echo
	tunnelPrefix  = "/t" // tunnel relay → Go backend
)

// relayRoutes routes the three prefixes, with message limits raised to
// 16 MiB so that D-01's largest messages pass the frame engine.
func relayRoutes(backend string) string {
	return fmt.Sprintf(`  - name: frames
    match: {path_prefix: %[2]s}
    limits: {max_frame_bytes: 16MiB, max_message_bytes: 16MiB}
    backends: {members: [{address: "%[1]s"}]}
  - name: builtin
    match: {path_prefix: %[3]s}
    limits: {max_frame_bytes: 16MiB, max_message_bytes: 16MiB}
    backends: {members: [{address: "builtin:echo"}]}
  - name: tunnel
    match: {path_prefix: %[4]s}
    relay: tunnel
    backends: {members: [{address: "%[1]s"}]}
`, backend, framesPrefix, builtinPrefix, tunnelPrefix)
}

// startRelay starts a Go backend and weir in front of it with relayRoutes,
// run as `weir run -c FILE`.
func startRelay(t *testing.T) (*weirProc, *goBackend) {
	t.Helper()
	b := startBackend(t)
	cfg := writeConfig(t, t.TempDir(), gatewayYAML(relayRoutes(b.Addr())))
	return startWeir(t, "run", "-c", cfg), b
}

var relayPaths = []struct{ name, prefix string }{
	{"frames", framesPrefix},
	{"builtin", builtinPrefix},
	{"tunnel", tunnelPrefix},
}

func TestEcho(t *testing.T) {
	w, _ := startRelay(t)
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	for _, p := range relayPaths {
		for _, m := range []struct {
			name string
			typ  websocket.MessageType
			data []byte
		}{
			{"text", websocket.MessageText, []byte("hello, weir — ünïcødé ✓")},
			{"binary", websocket.MessageBinary, binary},
		} {
			t.Run(p.name+"/"+m.name, func(t *testing.T) {
				c := dial(t, w.url(p.prefix+"/echo"))
				for range 3 {
					echo(t, c, m.typ, m.data)
				}
				if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
					t.Errorf("close: %v", err)
				}
				w.alive()
			})
		}
	}
	w.stop()
}

// TestIntegrity is D-01 through the binary: SHA-256 equal end to end, type
// preserved, for 0 B to 8 MiB, text and binary, with the client fragmenting
// at random boundaries (splitting UTF-8 code points of text messages) and
// the Go backend re-fragmenting its echo into 32 KiB frames.
func TestIntegrity(t *testing.T) {
	w, _ := startRelay(t)
	sizes := []int{0, 125, 64 << 10, 1 << 20, maxTestMessage}
	for _, p := range relayPaths {
		for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
			for _, size := range sizes {
				name := fmt.Sprintf("%s/%v/%d", p.name, typ, size)
				t.Run(name, func(t *testing.T) {
					rng := seeded(name)
					msg := payload(rng, typ, size)
					c := dial(t, w.url(p.prefix+"/integrity"))
					roundTrip(t, c, rng, []message{{typ, msg}})
					if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
						t.Errorf("close: %v", err)
					}
					w.alive()
				})
			}
		}
	}
	// Many messages in flight at once: boundaries and order preserved.
	for _, p := range relayPaths {
		t.Run(p.name+"/pipelined", func(t *testing.T) {
			rng := seeded(p.name + "/pipelined")
			var msgs []message
			for i := range 40 {
				typ := websocket.MessageBinary
				if i%2 == 0 {
					typ = websocket.MessageText
				}
				msgs = append(msgs, message{typ, payload(rng, typ, rng.IntN(256<<10))})
			}
			c := dial(t, w.url(p.prefix+"/pipelined"))
			roundTrip(t, c, rng, msgs)
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("close: %v", err)
			}
			w.alive()
		})
	}
	w.stop()
}

type message struct {
	typ  websocket.MessageType
	data []byte
}

// seeded returns a generator seeded from the subtest's name, so a failure
// reproduces with the same data.
func seeded(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	seed := h.Sum64()
	return rand.New(rand.NewPCG(seed, seed>>1))
}

// payload makes a message of exactly size bytes: random bytes, or for text
// valid UTF-8 mixing 1- to 4-byte code points.
func payload(rng *rand.Rand, typ websocket.MessageType, size int) []byte {
	b := make([]byte, 0, size)
	if typ == websocket.MessageBinary {
		for len(b) < size {
			b = append(b, byte(rng.Uint32()))
		}
		return b
	}
	runes := []rune{'a', 'Z', '0', ' ', 'é', 'ß', '€', '✓', '𝄞', '😀'}
	for len(b) < size {
		r := runes[rng.IntN(len(runes))]
		if len(b)+utf8.RuneLen(r) > size {
			r = 'x'
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}

// roundTrip writes msgs, each fragmented at random boundaries, while it
// reads the echoes concurrently (a client that writes 8 MiB before reading
// would deadlock any bounded relay), and checks every echo's type, length
// and SHA-256 in order.
func roundTrip(t *testing.T, c *websocket.Conn, rng *rand.Rand, msgs []message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	// The fragment plan is drawn here, not in the writer goroutine: the
	// generator is not safe for concurrent use.
	plans := make([][]int, len(msgs))
	for i, m := range msgs {
		plans[i] = fragments(rng, len(m.data))
	}
	werr := make(chan error, 1)
	go func() {
		werr <- writeAll(ctx, c, msgs, plans)
	}()
	for i, m := range msgs {
		typ, got, err := c.Read(ctx)
		if err != nil {
			cancel()
			t.Fatalf("message %d (%d bytes): read: %v (writer: %v)", i, len(m.data), err, <-werr)
		}
		if typ != m.typ || len(got) != len(m.data) || sha256.Sum256(got) != sha256.Sum256(m.data) {
			cancel()
			<-werr
			t.Fatalf("message %d: got %v of %d bytes (sha256 %x), want %v of %d bytes (sha256 %x); first difference at %d",
				i, typ, len(got), sha256.Sum256(got), m.typ, len(m.data), sha256.Sum256(m.data), firstDiff(got, m.data))
		}
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
}

// writeAll writes each message as frames of the planned sizes.
func writeAll(ctx context.Context, c *websocket.Conn, msgs []message, plans [][]int) error {
	for i, m := range msgs {
		wr, err := c.Writer(ctx, m.typ)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		rest := m.data
		for _, n := range plans[i] {
			// Each Write is one frame with coder/websocket (no
			// compression); Close adds an empty final frame.
			if _, err := wr.Write(rest[:n]); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
			rest = rest[n:]
		}
		if err := wr.Close(); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return nil
}

// fragments splits size into 1 to 8 random frame sizes that add up to it.
func fragments(rng *rand.Rand, size int) []int {
	var plan []int
	for rest, i := size, 0; rest > 0; i++ {
		n := rest
		if i < 7 && rest > 1 {
			n = 1 + rng.IntN(rest)
		}
		plan = append(plan, n)
		rest -= n
	}
	return plan
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestCloseRelay is D-02 through the binary: a backend's close code and
// reason reach the client intact, a client's reach the backend, and a
// backend that drops TCP without a Close makes weir close the client with
// 1011 or 1014, never leaving it to see an abnormal 1006.
func TestCloseRelay(t *testing.T) {
	w, b := startRelay(t)
	ended := 0
	for _, p := range []struct{ name, prefix string }{{"frames", framesPrefix}, {"tunnel", tunnelPrefix}} {
		t.Run(p.name+"/backend-closes-4001", func(t *testing.T) {
			c := dial(t, w.url(p.prefix+ctlPath))
			ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
			defer cancel()
			if err := c.Write(ctx, websocket.MessageText, []byte("close 4001 bye")); err != nil {
				t.Fatal(err)
			}
			ce := readClose(t, c)
			if ce.Code != 4001 || ce.Reason != "bye" {
				t.Errorf("client got close %d %q, want 4001 \"bye\"", ce.Code, ce.Reason)
			}
			ended++
			b.waitEnds(ended)
			w.alive()
		})
		t.Run(p.name+"/client-closes-1000", func(t *testing.T) {
			c := dial(t, w.url(p.prefix+"/close"))
			echo(t, c, websocket.MessageText, []byte("before close"))
			if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
				t.Errorf("client close handshake: %v", err)
			}
			ended++
			ends := b.waitEnds(ended)
			got := findEnd(ends, p.prefix+"/close")
			if got.Code != websocket.StatusNormalClosure || got.Reason != "done" {
				t.Errorf("backend got close %d %q, want 1000 \"done\"", got.Code, got.Reason)
			}
			w.alive()
		})
	}
	t.Run("frames/backend-drops-tcp", func(t *testing.T) {
		c := dial(t, w.url(framesPrefix+ctlPath))
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		if err := c.Write(ctx, websocket.MessageText, []byte("drop")); err != nil {
			t.Fatal(err)
		}
		ce := readClose(t, c)
		if ce.Code != websocket.StatusInternalError && ce.Code != websocket.StatusBadGateway {
			t.Errorf("client got close %d %q after the backend dropped TCP, want 1011 or 1014", ce.Code, ce.Reason)
		}
		ended++
		b.waitEnds(ended)
		w.alive()
	})
	w.stop()
}

// findEnd returns the last recorded end of a session on path.
func findEnd(ends []sessionEnd, path string) sessionEnd {
	for i := len(ends) - 1; i >= 0; i-- {
		if ends[i].Path == path {
			return ends[i]
		}
	}
	return sessionEnd{Code: -1}
}
