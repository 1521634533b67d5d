package wsproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gobwas/ws"
)

// sv and cl are the roles in the case tables: frames a client sends to
// weir (masked) and frames a backend sends (unmasked).
const (
	sv = ServerSide
	cl = ClientSide
)

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func text(p []byte) message   { return message{op: ws.OpText, payload: p} }
func binMsg(p []byte) message { return message{op: ws.OpBinary, payload: p} }

// fragments splits p into frames of size n: op first, continuations after.
func fragments(role Role, op ws.OpCode, p []byte, n int) []byte {
	var out []byte
	first := true
	for first || len(p) > 0 {
		k := min(n, len(p))
		o := ws.OpContinuation
		if first {
			o = op
		}
		out = append(out, frame(role, o, k == len(p), p[:k])...)
		p = p[k:]
		first = false
	}
	return out
}

type frameCase struct {
	id         string
	raw        []byte
	role       Role
	chunk      int
	maxFrame   int64
	maxMessage int64
	code       ws.StatusCode // ProtocolError expected, 0 for none
	messages   []message
	pongs      int
	close      ws.StatusCode // Close expected, 0 for none
}

func runFrameCases(t *testing.T, cases []frameCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			role, chunk, maxFrame, maxMessage := tc.role, tc.chunk, tc.maxFrame, tc.maxMessage
			if role == 0 {
				role = sv
			}
			if chunk == 0 {
				chunk = 4096
			}
			if maxFrame == 0 {
				maxFrame = 16 << 20
			}
			if maxMessage == 0 {
				maxMessage = 16 << 20
			}
			r := relay(role, maxFrame, maxMessage, tc.raw, chunk)
			if r.ioErr != nil {
				t.Fatalf(
					"I/O error %v",
					r.ioErr)
			}
			if r.code != tc.code {
				t.Fatalf(
					"close code %d, want %d",
					r.code, tc.code)
			}
			wantMessages(t, r, tc.messages...)
			if r.pongs != tc.pongs {
				t.Fatalf(
					"%d pongs, want %d",
					r.pongs, tc.pongs)
			}
			if tc.close != 0 && (!r.closed || r.close != tc.close) {
				t.Fatalf(
					"close %v %d, want %d",
					r.closed, r.close, tc.close)
			}
		})
	}
}

// TestAutobahnFraming mirrors Autobahn testsuite cases 1.x to 5.x and 7.x
// and 9.x as raw frames from a client, plus SECURITY-CASES F-01…F-04.
func TestAutobahnFraming(t *testing.T) {
	hello := []byte("Hello, world!")
	var cases []frameCase
	for i, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
		id := string(rune('1' + i))
		p := rep('*', n)
		cases = append(cases,
			frameCase{id: "1.1." + id, raw: frame(sv, ws.OpText, true, p), messages: []message{text(p)}},
			frameCase{id: "1.2." + id, raw: frame(sv, ws.OpBinary, true, rep(0xfe, n)), messages: []message{binMsg(rep(0xfe, n))}},
		)
	}
	cases = append(cases,
		frameCase{id: "1.1.8 chopped 997", raw: frame(sv, ws.OpText, true, rep('*', 65536)), chunk: 997, messages: []message{text(rep('*', 65536))}},
		frameCase{id: "1.2.8 chopped 997", raw: frame(sv, ws.OpBinary, true, rep(0xfe, 65536)), chunk: 997, messages: []message{binMsg(rep(0xfe, 65536))}},

		frameCase{id: "2.1", raw: frame(sv, ws.OpPing, true, nil), pongs: 1},
		frameCase{id: "2.2", raw: frame(sv, ws.OpPing, true, hello), pongs: 1},
		frameCase{id: "2.3", raw: frame(sv, ws.OpPing, true, []byte{0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff}), pongs: 1},
		frameCase{id: "2.4", raw: frame(sv, ws.OpPing, true, rep(0xfe, 125)), pongs: 1},
		frameCase{id: "2.5 (F-03)", raw: frame(sv, ws.OpPing, true, rep(0xfe, 126)), code: 1002},
		frameCase{id: "2.6", raw: frame(sv, ws.OpPing, true, rep(0xfe, 125)), chunk: 1, pongs: 1},
		frameCase{id: "2.7", raw: frame(sv, ws.OpPong, true, nil)},
		frameCase{id: "2.8", raw: frame(sv, ws.OpPong, true, hello)},
		frameCase{id: "2.10", raw: bytes.Repeat(frame(sv, ws.OpPing, true, hello), 10), pongs: 10},

		// 3.x: reserved bits without an extension (F-02).
		frameCase{id: "3.1", raw: rawFrame(4, ws.OpText, true, true, 0, hello), code: 1002},
		frameCase{id: "3.2", raw: cat(frame(sv, ws.OpText, true, hello), rawFrame(2, ws.OpText, true, true, 0, hello), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "3.3", raw: cat(frame(sv, ws.OpText, true, hello), rawFrame(3, ws.OpText, true, true, 0, hello), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "3.4", raw: cat(frame(sv, ws.OpText, true, hello), rawFrame(4, ws.OpText, true, true, 0, hello), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "3.5", raw: rawFrame(5, ws.OpBinary, true, true, 0, []byte{0, 0xff, 0xfe}), code: 1002},
		frameCase{id: "3.6", raw: rawFrame(6, ws.OpPing, true, true, 0, hello), code: 1002},
		frameCase{id: "3.7", raw: rawFrame(7, ws.OpClose, true, true, 0, []byte{0x03, 0xe8}), code: 1002},

		// 4.x: reserved opcodes (F-02).
		frameCase{id: "4.1.1", raw: frame(sv, 3, true, nil), code: 1002},
		frameCase{id: "4.1.2", raw: frame(sv, 4, true, hello), code: 1002},
		frameCase{id: "4.1.3", raw: cat(frame(sv, ws.OpText, true, hello), frame(sv, 5, true, nil), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "4.1.4", raw: cat(frame(sv, ws.OpText, true, hello), frame(sv, 6, true, hello), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "4.1.5", raw: cat(frame(sv, ws.OpText, true, hello), frame(sv, 7, true, hello), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "4.2.1", raw: frame(sv, 0xb, true, nil), code: 1002},
		frameCase{id: "4.2.2", raw: frame(sv, 0xc, true, hello), code: 1002},
		frameCase{id: "4.2.3", raw: cat(frame(sv, ws.OpText, true, hello), frame(sv, 0xd, true, nil), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "4.2.4", raw: cat(frame(sv, ws.OpText, true, hello), frame(sv, 0xe, true, hello), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},
		frameCase{id: "4.2.5", raw: cat(frame(sv, ws.OpText, true, hello), frame(sv, 0xf, true, hello), frame(sv, ws.OpPing, true, nil)), code: 1002, messages: []message{text(hello)}},

		// 5.x: fragmentation (F-03, F-04).
		frameCase{id: "5.1 (F-03)", raw: cat(frame(sv, ws.OpPing, false, []byte("fragment1")), frame(sv, ws.OpContinuation, true, []byte("fragment2"))), code: 1002},
		frameCase{id: "5.2", raw: cat(frame(sv, ws.OpPong, false, []byte("fragment1")), frame(sv, ws.OpContinuation, true, []byte("fragment2"))), code: 1002},
		frameCase{id: "5.3", raw: cat(frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpContinuation, true, []byte("fragment2"))), messages: []message{text([]byte("fragment1fragment2"))}},
		frameCase{id: "5.5", raw: cat(frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpContinuation, true, []byte("fragment2"))), chunk: 1, messages: []message{text([]byte("fragment1fragment2"))}},
		frameCase{id: "5.6 (F-04)", raw: cat(frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpPing, true, []byte("ping payload")), frame(sv, ws.OpContinuation, true, []byte("fragment2"))), pongs: 1, messages: []message{text([]byte("fragment1fragment2"))}},
		frameCase{id: "5.8", raw: cat(frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpPing, true, []byte("ping payload")), frame(sv, ws.OpContinuation, true, []byte("fragment2"))), chunk: 1, pongs: 1, messages: []message{text([]byte("fragment1fragment2"))}},
		frameCase{id: "5.6 (F-04, F-05) ping between fragments that split a code point", raw: cat(frame(sv, ws.OpText, false, []byte("a\xf0\x9f")), frame(sv, ws.OpPing, true, hello), frame(sv, ws.OpContinuation, true, []byte("\x98\x80b"))), pongs: 1, messages: []message{text([]byte("a\U0001F600b"))}},
		frameCase{id: "5.9 (F-04)", raw: cat(frame(sv, ws.OpContinuation, true, []byte("non-continuation payload")), frame(sv, ws.OpText, true, hello)), code: 1002},
		frameCase{id: "5.12", raw: cat(frame(sv, ws.OpContinuation, false, []byte("non-continuation payload")), frame(sv, ws.OpText, true, hello)), code: 1002},
		frameCase{id: "5.15", raw: cat(frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpContinuation, true, []byte("fragment2")), frame(sv, ws.OpContinuation, false, []byte("fragment3")), frame(sv, ws.OpText, true, []byte("fragment4"))), code: 1002, messages: []message{text([]byte("fragment1fragment2"))}},
		frameCase{id: "5.18 (F-04)", raw: cat(frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpText, true, []byte("fragment2"))), code: 1002},
		frameCase{id: "5.19", raw: cat(
			frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpContinuation, false, []byte("fragment2")),
			frame(sv, ws.OpPing, true, []byte("pongme 1!")), frame(sv, ws.OpContinuation, false, []byte("fragment3")),
			frame(sv, ws.OpContinuation, false, []byte("fragment4")), frame(sv, ws.OpPing, true, []byte("pongme 2!")),
			frame(sv, ws.OpContinuation, true, []byte("fragment5"))),
			pongs: 2, messages: []message{text([]byte("fragment1fragment2fragment3fragment4fragment5"))}},
		frameCase{id: "5.20 chopped", raw: cat(
			frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpPing, true, []byte("pongme 1!")),
			frame(sv, ws.OpContinuation, true, []byte("fragment2"))),
			chunk: 1, pongs: 1, messages: []message{text([]byte("fragment1fragment2"))}},

		// 7.x: closing (F-06).
		frameCase{id: "7.1.1", raw: cat(frame(sv, ws.OpText, true, hello), frame(sv, ws.OpClose, true, []byte{0x03, 0xe8})), messages: []message{text(hello)}, close: 1000},
		frameCase{id: "7.1.3 data after Close is not read", raw: cat(frame(sv, ws.OpClose, true, []byte{0x03, 0xe8}), frame(sv, ws.OpText, true, hello)), close: 1000},
		frameCase{id: "7.1.5", raw: cat(frame(sv, ws.OpText, false, []byte("fragment1")), frame(sv, ws.OpClose, true, []byte{0x03, 0xe8}), frame(sv, ws.OpContinuation, true, []byte("fragment2"))), close: 1000},
		frameCase{id: "7.3.1", raw: frame(sv, ws.OpClose, true, nil), close: 1005},
		frameCase{id: "7.3.2", raw: frame(sv, ws.OpClose, true, []byte{0x03}), code: 1002},
		frameCase{id: "7.3.3", raw: frame(sv, ws.OpClose, true, []byte{0x03, 0xe8}), close: 1000},
		frameCase{id: "7.3.4", raw: frame(sv, ws.OpClose, true, append([]byte{0x03, 0xe8}, "Hello World!"...)), close: 1000},
		frameCase{id: "7.3.5", raw: frame(sv, ws.OpClose, true, append([]byte{0x03, 0xe8}, rep('*', 123)...)), close: 1000},
		frameCase{id: "7.3.6 (F-03)", raw: frame(sv, ws.OpClose, true, append([]byte{0x03, 0xe8}, rep('*', 124)...)), code: 1002},
		frameCase{id: "7.5.1", raw: frame(sv, ws.OpClose, true, append([]byte{0x03, 0xe8}, mustHex("cebae1bdb9cf83cebcceb5eda080656469746564")...)), code: 1007},

		// F-01: masking by direction.
		frameCase{id: "F-01 unmasked from a client", raw: frame(cl, ws.OpText, true, hello), code: 1002},
		frameCase{id: "F-01 masked from a backend", raw: frame(sv, ws.OpText, true, hello), role: cl, code: 1002},
		frameCase{id: "F-01 unmasked from a backend", raw: frame(cl, ws.OpText, true, hello), role: cl, messages: []message{text(hello)}},
		frameCase{id: "F-01 unmasked ping from a client", raw: frame(cl, ws.OpPing, true, nil), code: 1002},
	)
	// 7.7.x valid close codes; 7.9.x and 7.13.x invalid ones. Autobahn's
	// 7.9.x lists 1012–1014 as invalid; they have since been registered
	// with IANA (service restart, try again later, bad gateway), and weir
	// sends 1012 and 1014 itself, so it accepts them.
	for _, c := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cases = append(cases, frameCase{id: "7.7.x code " + itoa(int(c)), raw: frame(sv, ws.OpClose, true, binary.BigEndian.AppendUint16(nil, c)), close: ws.StatusCode(c)})
	}
	for _, c := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, frameCase{id: "7.9.x/7.13.x code " + itoa(int(c)), raw: frame(sv, ws.OpClose, true, binary.BigEndian.AppendUint16(nil, c)), code: 1002})
	}
	runFrameCases(t, cases)
}

// TestAutobahnLarge mirrors 9.1.x–9.6.x: large messages, whole and
// fragmented, read in pieces of several sizes (sizes scaled down to keep
// the test fast).
func TestAutobahnLarge(t *testing.T) {
	big := bytes.Repeat([]byte("*\u00b5\u20ac\U0001F600"), 1<<18/10) // mixed 1–4 byte code points
	bin := make([]byte, 1<<20)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	var cases []frameCase
	cases = append(cases,
		frameCase{id: "9.1.x text 1 MiB", raw: frame(sv, ws.OpText, true, big), messages: []message{text(big)}},
		frameCase{id: "9.2.x binary 1 MiB", raw: frame(sv, ws.OpBinary, true, bin), messages: []message{binMsg(bin)}},
	)
	for _, n := range []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		cases = append(cases,
			frameCase{id: "9.3.x text fragments of " + itoa(n), raw: fragments(sv, ws.OpText, big, n), messages: []message{text(big)}},
			frameCase{id: "9.4.x binary fragments of " + itoa(n), raw: fragments(sv, ws.OpBinary, bin, n), messages: []message{binMsg(bin)}},
		)
	}
	for _, n := range []int{64, 128, 256, 512, 1024, 2048, 4096} {
		cases = append(cases,
			frameCase{id: "9.5.x text read in pieces of " + itoa(n), raw: frame(sv, ws.OpText, true, big), chunk: n, messages: []message{text(big)}},
			frameCase{id: "9.6.x binary read in pieces of " + itoa(n), raw: frame(sv, ws.OpBinary, true, bin), chunk: n, messages: []message{binMsg(bin)}},
		)
	}
	runFrameCases(t, cases)
}

// utf8Cases are the byte sequences of Autobahn 6.x with their validity.
var utf8Cases = []struct {
	id    string
	hex   string
	valid bool
}{
	{id: "6.1.1 empty", hex: "", valid: true},
	{id: "6.2.1", hex: hex.EncodeToString([]byte("Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!")), valid: true},
	{id: "6.3.1", hex: "cebae1bdb9cf83cebcceb5eda080656469746564"},
	{id: "6.5.1 κόσμε", hex: "cebae1bdb9cf83cebcceb5", valid: true},
	{id: "6.7.1", hex: "00", valid: true},
	{id: "6.7.2", hex: "c280", valid: true},
	{id: "6.7.3", hex: "e0a080", valid: true},
	{id: "6.7.4", hex: "f0908080", valid: true},
	{id: "6.8.1 5 bytes", hex: "f888808080"},
	{id: "6.8.2 6 bytes", hex: "fc8480808080"},
	{id: "6.9.1", hex: "7f", valid: true},
	{id: "6.9.2", hex: "dfbf", valid: true},
	{id: "6.9.3", hex: "efbfbf", valid: true},
	{id: "6.9.4", hex: "f48fbfbf", valid: true},
	{id: "6.10.1", hex: "f7bfbfbf"},
	{id: "6.10.2", hex: "fbbfbfbfbf"},
	{id: "6.10.3", hex: "fdbfbfbfbfbf"},
	{id: "6.11.1", hex: "ed9fbf", valid: true},
	{id: "6.11.2", hex: "ee8080", valid: true},
	{id: "6.11.3", hex: "efbfbd", valid: true},
	{id: "6.11.4", hex: "f48fbfbf", valid: true},
	{id: "6.11.5", hex: "f4908080"},
	{id: "6.12.1", hex: "80"},
	{id: "6.12.2", hex: "bf"},
	{id: "6.12.3", hex: "80bf"},
	{id: "6.12.4", hex: "80bf80"},
	{id: "6.12.8", hex: "80bf80bf80bf80"},
	{id: "6.13.1", hex: "c020c120c220c320"},
	{id: "6.13.2", hex: "e020e120"},
	{id: "6.13.3", hex: "f020f120"},
	{id: "6.14.1", hex: "c0"},
	{id: "6.14.2", hex: "e080"},
	{id: "6.14.3", hex: "f08080"},
	{id: "6.14.6", hex: "df"},
	{id: "6.14.7", hex: "efbf"},
	{id: "6.14.8", hex: "f7bfbf"},
	{id: "6.15.1", hex: "c0e080f08080df efbf f7bfbf"},
	{id: "6.16.1", hex: "fe"},
	{id: "6.16.2", hex: "ff"},
	{id: "6.16.3", hex: "fefeffff"},
	{id: "6.17.1", hex: "c0af"},
	{id: "6.17.2", hex: "e080af"},
	{id: "6.17.3", hex: "f08080af"},
	{id: "6.18.1", hex: "c1bf"},
	{id: "6.18.2", hex: "e09fbf"},
	{id: "6.18.3", hex: "f08fbfbf"},
	{id: "6.19.1", hex: "c080"},
	{id: "6.19.2", hex: "e08080"},
	{id: "6.20.1", hex: "eda080"},
	{id: "6.20.4", hex: "edafbf"},
	{id: "6.20.5", hex: "edb080"},
	{id: "6.20.7", hex: "edbfbf"},
	{id: "6.21.1", hex: "eda080edb080"},
	{id: "6.21.8", hex: "edafbfedbfbf"},
	{id: "6.22.1", hex: "efbfbe", valid: true},
	{id: "6.22.3", hex: "f09fbfbe", valid: true},
	{id: "6.22.34", hex: "f48fbfbf", valid: true},
	{id: "6.23.1", hex: "efbfbd", valid: true},
	{id: "6.23.7 U+FFFD in context", hex: "41efbfbd42", valid: true},
}

// TestAutobahnUTF8 mirrors 6.x (F-05): each sequence as one text frame, as
// one frame read a byte at a time, and as one fragment per byte.
func TestAutobahnUTF8(t *testing.T) {
	var cases []frameCase
	for _, u := range utf8Cases {
		p := mustHex(u.hex)
		var code ws.StatusCode
		var msgs []message
		if u.valid {
			msgs = []message{text(p)}
		} else {
			code = 1007
		}
		cases = append(cases,
			frameCase{id: u.id + " one frame", raw: frame(sv, ws.OpText, true, p), code: code, messages: msgs},
			frameCase{id: u.id + " read a byte at a time", raw: frame(sv, ws.OpText, true, p), chunk: 1, code: code, messages: msgs},
			frameCase{id: u.id + " a fragment per byte", raw: fragments(sv, ws.OpText, p, 1), code: code, messages: msgs},
			frameCase{id: u.id + " in a binary message", raw: frame(sv, ws.OpBinary, true, p), messages: []message{binMsg(p)}},
		)
	}
	runFrameCases(t, cases)
}

// TestUTF8FailFast mirrors 6.4.x (F-05): invalid bytes in the second of
// three fragments fail while the second fragment is read, before the third
// arrives; a valid 4-byte code point split across fragments is delivered.
func TestUTF8FailFast(t *testing.T) {
	var v Validator
	v.Init(sv, 1<<20, 1<<20)
	h1 := ws.Header{OpCode: ws.OpText, Masked: true, Length: 5}
	h2 := ws.Header{OpCode: ws.OpContinuation, Masked: true, Length: 4}
	if err := v.CheckHeader(h1); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckPayload(h1, []byte("\xce\xba\xe1\xbd\xb9")); err != nil {
		t.Fatal(err)
	}
	if err := v.EndFrame(h1); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckHeader(h2); err != nil {
		t.Fatal(err)
	}
	var pe ProtocolError
	if err := v.CheckPayload(h2, []byte("\xf4\x90\x80\x80")); !errors.As(err, &pe) || pe.Code != 1007 {
		t.Fatalf(
			"err = %v, want 1007 on the second fragment",
			err)
	}

	// F-05: U+1F600 split 1 | 3 across two fragments.
	raw := cat(frame(sv, ws.OpText, false, []byte("a\xf0")), frame(sv, ws.OpContinuation, true, []byte("\x9f\x98\x80b")))
	r := relay(sv, 1<<20, 1<<20, raw, 4096)
	wantMessages(t, r, text([]byte("a\U0001F600b")))
}

// TestFrameLengths covers SECURITY-CASES F-07: the most significant bit of a
// 64-bit length, a length of 2^62, and non-minimal encodings, each answered
// without allocating anything for the length.
func TestFrameLengths(t *testing.T) {
	msb := []byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}
	huge := []byte{0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4} // 2^62
	cases := []struct {
		name string
		raw  []byte
		code ws.StatusCode
	}{
		{name: "F-07 64-bit length with MSB set", raw: msb, code: 1002},
		{name: "F-07 length 2^62", raw: huge, code: 1009},
		{name: "F-07 126 + 0x007C", raw: rawFrame(0, ws.OpText, true, true, 126, rep('a', 0x7c)), code: 1002},
		{name: "F-07 127 + 8-byte 200", raw: rawFrame(0, ws.OpBinary, true, true, 127, rep('a', 200)), code: 1002},
		{name: "127 + 65535 is not minimal", raw: rawFrame(0, ws.OpBinary, true, true, 127, rep('a', 65535)), code: 1002},
		{name: "126 + 0 is not minimal", raw: rawFrame(0, ws.OpBinary, true, true, 126, nil), code: 1002},
		{name: "126 + 126 is minimal", raw: rawFrame(0, ws.OpBinary, true, true, 126, rep('a', 126))},
		{name: "127 + 65536 is minimal", raw: rawFrame(0, ws.OpBinary, true, true, 127, rep('a', 65536))},
		{name: "non-minimal ping", raw: rawFrame(0, ws.OpPing, true, true, 126, nil), code: 1002},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := relay(sv, 1<<20, 1<<20, tc.raw, 4096)
			if r.code != tc.code || r.ioErr != nil {
				t.Fatalf(
					"code %d (io %v), want %d",
					r.code, r.ioErr, tc.code)
			}
		})
	}

	for _, tc := range []struct {
		name string
		raw  []byte
		code ws.StatusCode
	}{
		{name: "F-07 MSB", raw: msb, code: 1002},
		{name: "F-07 2^62", raw: huge, code: 1009},
	} {
		t.Run(tc.name+" allocates nothing", func(t *testing.T) {
			rd := bytes.NewReader(tc.raw)
			br := bufio.NewReaderSize(rd, 64)
			var v Validator
			v.Init(sv, 1<<20, 1<<20)
			scratch := make([]byte, MaxHeaderSize)
			var got ws.StatusCode
			step := func() {
				rd.Reset(tc.raw)
				br.Reset(rd)
				h, err := ReadHeader(br, scratch)
				if err == nil {
					err = v.CheckHeader(h)
				}
				// A type assertion, not errors.As, which allocates for
				// its own bookkeeping.
				if pe, ok := err.(ProtocolError); ok {
					got = pe.Code
				}
			}
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			allocs := testing.AllocsPerRun(100, step)
			runtime.ReadMemStats(&ms1)
			if got != tc.code {
				t.Fatalf(
					"code %d, want %d",
					got, tc.code)
			}
			if allocs != 0 {
				t.Fatalf(
					"%v allocations per frame",
					allocs)
			}
			if grew := ms1.TotalAlloc - ms0.TotalAlloc; grew > 64<<10 {
				t.Fatalf(
					"heap grew by %d bytes",
					grew)
			}
		})
	}
}

// TestMessageLimits covers SECURITY-CASES L-01 with a 1 MiB message limit.
func TestMessageLimits(t *testing.T) {
	const limit = 1 << 20
	t.Run("L-01 one 2 MiB frame refused at its header", func(t *testing.T) {
		// Only the header is sent: the refusal must come before any
		// payload byte is needed.
		hdr := AppendHeader(nil, ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: testKey, Length: 2 << 20})
		r := relay(sv, 4<<20, limit, hdr, 4096)
		if r.code != 1009 {
			t.Fatalf(
				"code %d, want 1009",
				r.code)
		}
	})
	t.Run("frame over the frame limit", func(t *testing.T) {
		hdr := AppendHeader(nil, ws.Header{Fin: true, OpCode: ws.OpText, Masked: true, Mask: testKey, Length: 64<<10 + 1})
		if r := relay(sv, 64<<10, limit, hdr, 4096); r.code != 1009 {
			t.Fatalf(
				"code %d, want 1009",
				r.code)
		}
	})
	t.Run("L-01 10000 continuations of 1 KiB", func(t *testing.T) {
		kib := rep('x', 1024)
		raw := frame(sv, ws.OpText, false, kib)
		for i := 1; i < 10000; i++ {
			raw = append(raw, frame(sv, ws.OpContinuation, i == 9999, kib)...)
		}
		var v Validator
		v.Init(sv, limit, limit)
		br := bufio.NewReader(bytes.NewReader(raw))
		var scratch [MaxHeaderSize]byte
		frames := 0
		for ; frames < 10000; frames++ {
			h, err := ReadHeader(br, scratch[:])
			if err != nil {
				t.Fatal(err)
			}
			if err := v.CheckHeader(h); err != nil {
				var pe ProtocolError
				if !errors.As(err, &pe) || pe.Code != 1009 {
					t.Fatalf(
						"err = %v, want 1009",
						err)
				}
				break
			}
			if _, err := br.Discard(int(h.Length)); err != nil {
				t.Fatal(err)
			}
			if err := v.EndFrame(h); err != nil {
				t.Fatal(err)
			}
		}
		// 1024 frames of 1 KiB make exactly 1 MiB; the 1025th is refused.
		if frames != 1024 {
			t.Fatalf(
				"refused at frame %d, want 1024",
				frames)
		}
	})
	t.Run("L-01 1000000 zero-length continuations", func(t *testing.T) {
		empty := frame(sv, ws.OpContinuation, false, nil)
		raw := make([]byte, 0, len(empty)*1000000+64)
		raw = append(raw, frame(sv, ws.OpBinary, false, nil)...)
		for i := 0; i < 1000000; i++ {
			raw = append(raw, empty...)
		}
		raw = append(raw, frame(sv, ws.OpContinuation, true, []byte("end"))...)
		r := relay(sv, limit, limit, raw, 4096)
		wantMessages(t, r, binMsg([]byte("end")))
	})
	t.Run("exactly the limit", func(t *testing.T) {
		p := rep('a', limit)
		r := relay(sv, limit, limit, fragments(sv, ws.OpText, p, 1000), 4096)
		wantMessages(t, r, text(p))
	})
	t.Run("no overflow near MaxInt64", func(t *testing.T) {
		var v Validator
		v.Init(sv, 0, 0) // no limits
		hs := []ws.Header{
			{OpCode: ws.OpBinary, Masked: true, Length: 1<<63 - 1},
			{OpCode: ws.OpContinuation, Masked: true, Length: 1},
		}
		if err := v.CheckHeader(hs[0]); err != nil {
			t.Fatal(err)
		}
		var pe ProtocolError
		if err := v.CheckHeader(hs[1]); !errors.As(err, &pe) || pe.Code != 1009 {
			t.Fatalf(
				"err = %v, want 1009",
				err)
		}
	})
}

func TestValidatorState(t *testing.T) {
	t.Run("zero value refuses", func(t *testing.T) {
		var v Validator
		var pe *ProtocolError
		if err := v.CheckHeader(ws.Header{OpCode: ws.OpText, Fin: true, Masked: true}); !errors.As(err, &pe) || pe.Code != 1011 {
			t.Fatalf(
				"err = %v",
				err)
		}
	})
	t.Run("InMessage", func(t *testing.T) {
		var v Validator
		v.Init(cl, 100, 100)
		steps := []struct {
			h    ws.Header
			open bool
		}{
			{h: ws.Header{OpCode: ws.OpText, Length: 1}, open: true},
			{h: ws.Header{OpCode: ws.OpPing, Fin: true}, open: true},
			{h: ws.Header{OpCode: ws.OpContinuation, Fin: true, Length: 1}, open: false},
			{h: ws.Header{OpCode: ws.OpBinary, Fin: true, Length: 1}, open: false},
		}
		for i, st := range steps {
			if err := v.CheckHeader(st.h); err != nil {
				t.Fatal(err)
			}
			if err := v.CheckPayload(st.h, rep('a', int(st.h.Length))); err != nil {
				t.Fatal(err)
			}
			if err := v.EndFrame(st.h); err != nil {
				t.Fatal(err)
			}
			if v.InMessage() != st.open {
				t.Fatalf(
					"step %d: InMessage = %v",
					i, v.InMessage())
			}
		}
	})
	t.Run("text ends inside a code point", func(t *testing.T) {
		var v Validator
		v.Init(cl, 100, 100)
		h := ws.Header{OpCode: ws.OpText, Fin: true, Length: 2}
		_ = v.CheckHeader(h)
		if err := v.CheckPayload(h, []byte("a\xe2")); err != nil {
			t.Fatal(err)
		}
		var pe ProtocolError
		if err := v.EndFrame(h); !errors.As(err, &pe) || pe.Code != 1007 {
			t.Fatalf(
				"err = %v, want 1007",
				err)
		}
		// The state is reset: the next message starts clean.
		h2 := ws.Header{OpCode: ws.OpText, Fin: true, Length: 1}
		if err := v.CheckHeader(h2); err != nil {
			t.Fatal(err)
		}
		if err := v.CheckPayload(h2, []byte("b")); err != nil {
			t.Fatal(err)
		}
		if err := v.EndFrame(h2); err != nil {
			t.Fatal(err)
		}
	})
}

func TestReadHeaderIO(t *testing.T) {
	full := frame(sv, ws.OpText, true, rep('a', 300)) // 2 + 2 + 4 header bytes
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{name: "EOF before a header", raw: nil, want: io.EOF},
		{name: "EOF after one byte", raw: full[:1], want: io.ErrUnexpectedEOF},
		{name: "EOF inside the length", raw: full[:3], want: io.ErrUnexpectedEOF},
		{name: "EOF inside the mask", raw: full[:6], want: io.ErrUnexpectedEOF},
		{name: "EOF before the 64-bit length", raw: []byte{0x82, 0xff}, want: io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadHeader(bufio.NewReader(bytes.NewReader(tc.raw)), make([]byte, MaxHeaderSize))
			if err != tc.want {
				t.Fatalf(
					"err = %v, want %v",
					err, tc.want)
			}
		})
	}
	t.Run("short scratch", func(t *testing.T) {
		// One byte per read: the header is cut, so scratch is used.
		_, err := ReadHeader(bufio.NewReader(iotest.OneByteReader(bytes.NewReader(full))), make([]byte, 4))
		if !errors.Is(err, io.ErrShortBuffer) {
			t.Fatalf(
				"err = %v",
				err)
		}
	})
	t.Run("HeaderLen", func(t *testing.T) {
		br := bufio.NewReader(bytes.NewReader(full))
		if _, err := br.Peek(len(full)); err != nil {
			t.Fatal(err)
		}
		if n, ok := HeaderLen(br); !ok || n != 8 {
			t.Fatalf(
				"HeaderLen = %d, %v",
				n, ok)
		}
	})
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 40, 1<<63 - 1} {
		for _, masked := range []bool{false, true} {
			h := ws.Header{Fin: n%2 == 0, Rsv: 0, OpCode: ws.OpBinary, Masked: masked, Length: n}
			if masked {
				h.Mask = testKey
			}
			b := AppendHeader(nil, h)
			if len(b) != ws.HeaderSize(h) {
				t.Fatalf(
					"length %d: %d bytes, want %d",
					n, len(b), ws.HeaderSize(h))
			}
			got, err := ReadHeader(bufio.NewReader(bytes.NewReader(b)), make([]byte, MaxHeaderSize))
			if err != nil || got != h {
				t.Fatalf(
					"length %d: read back %+v, %v",
					n, got, err)
			}
		}
	}
}

func TestAppendFrame(t *testing.T) {
	p := []byte("masked payload, longer than sixteen bytes")
	b := AppendFrame(nil, ws.OpText, true, p, true, testKey)
	f, err := ws.ReadFrame(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	ws.Cipher(f.Payload, f.Header.Mask, 0)
	if !bytes.Equal(f.Payload, p) || !f.Header.Masked || f.Header.Mask != testKey || string(p) != "masked payload, longer than sixteen bytes" {
		t.Fatalf(
			"frame = %+v",
			f.Header)
	}
	dst := make([]byte, 0, MaxHeaderSize+len(p))
	if n := testing.AllocsPerRun(100, func() { dst = AppendFrame(dst[:0], ws.OpBinary, true, p, true, testKey) }); n != 0 {
		t.Fatalf(
			"%v allocations",
			n)
	}
}

func TestAppendClose(t *testing.T) {
	cases := []struct {
		name   string
		code   ws.StatusCode
		reason string
		want   ws.StatusCode
		reas   string
	}{
		{name: "plain", code: 1000, reason: "bye", want: 1000, reas: "bye"},
		{name: "123 bytes kept", code: 4001, reason: strings.Repeat("a", 123), want: 4001, reas: strings.Repeat("a", 123)},
		{name: "124 bytes cut", code: 4001, reason: strings.Repeat("a", 124), want: 4001, reas: strings.Repeat("a", 123)},
		{name: "cut on a code point boundary", code: 1001, reason: strings.Repeat("a", 121) + "\u20ac", want: 1001, reas: strings.Repeat("a", 121)},
		{name: "invalid UTF-8 cut", code: 1000, reason: "ok\xffno", want: 1000, reas: "ok"},
		{name: "1006 never on the wire", code: 1006, reason: "x", want: 1011, reas: "x"},
		{name: "1015 never on the wire", code: 1015, want: 1011},
		{name: "1005 is an empty close", code: 1005, want: 1005},
	}
	for _, tc := range cases {
		for _, mask := range []bool{false, true} {
			t.Run(tc.name, func(t *testing.T) {
				b := AppendClose(nil, tc.code, tc.reason, mask, testKey)
				role := cl
				if mask {
					role = sv
				}
				r := relay(role, 1<<20, 1<<20, b, 4096)
				if r.code != 0 || !r.closed || r.close != tc.want || r.reason != tc.reas {
					t.Fatalf(
						"read back close %d %q (code %d)",
						r.close, r.reason, r.code)
				}
			})
		}
	}
}

func TestParseClose(t *testing.T) {
	cases := []struct {
		name string
		p    []byte
		code ws.StatusCode
		err  ws.StatusCode
	}{
		{name: "empty", p: nil, code: 1005},
		{name: "one byte", p: []byte{3}, err: 1002},
		{name: "1000", p: []byte{3, 0xe8}, code: 1000},
		{name: "1000 with reason", p: append([]byte{3, 0xe8}, "bye"...), code: 1000},
		{name: "F-06 1012 valid", p: []byte{0x03, 0xf4}, code: 1012},
		{name: "F-06 1014 valid", p: []byte{0x03, 0xf6}, code: 1014},
		{name: "F-06 1016", p: []byte{0x03, 0xf8}, err: 1002},
		{name: "F-06 bad reason", p: append([]byte{3, 0xe8}, 0xff), err: 1007},
		{name: "F-06 truncated reason", p: append([]byte{3, 0xe8}, 0xe2, 0x82), err: 1007},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, err := ParseClose(tc.p)
			var pe ProtocolError
			switch {
			case tc.err != 0:
				if !errors.As(err, &pe) || pe.Code != tc.err {
					t.Fatalf(
						"err = %v, want %d",
						err, tc.err)
				}
			case err != nil || code != tc.code:
				t.Fatalf(
					"= %d, %v; want %d",
					code, err, tc.code)
			}
		})
	}
	for c := 0; c < 1<<16; c++ {
		want := (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
		if ValidCloseCode(ws.StatusCode(c)) != want {
			t.Fatalf(
				"ValidCloseCode(%d) = %v",
				c, !want)
		}
	}
}

func TestProtocolErrorAs(t *testing.T) {
	var err error = ProtocolError{Code: 1009, Reason: "x"}
	var v ProtocolError
	var p *ProtocolError
	if !errors.As(err, &v) || !errors.As(err, &p) || v.Code != 1009 || p.Code != 1009 {
		t.Fatal("errors.As failed")
	}
	wrapped := errorsJoin(err)
	if !errors.As(wrapped, &p) || p.Code != 1009 {
		t.Fatal("errors.As through a wrapper failed")
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("context"), err) }

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
