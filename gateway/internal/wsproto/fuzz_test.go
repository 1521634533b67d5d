package wsproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

func FuzzCheckRequest(f *testing.F) {
	for _, s := range []string{
		upgradeHead(""),
		upgradeHead("", "Connection: keep-alive, Upgrade", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=\"10\", x-foo"),
		upgradeHead("", "Sec-WebSocket-Version: 13, 8"),
		upgradeHead("", "Upgrade: websocket, h2c"),
		upgradeHead("", "+Content-Length: 48"),
		upgradeHead("", "Connection: Upgrade, X-Forwarded-For, Host"),
		upgradeHead("", "Sec-WebSocket-Extensions: a; b=\"c\\d\""),
		upgradeHead("POST / HTTP/1.1"),
	} {
		f.Add([]byte(s))
	}
	lim := httphead.Limits{MaxBytes: 8 << 10, MaxHeaders: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := httphead.ReadRequest(bufio.NewReaderSize(bytes.NewReader(data), 4096), lim)
		if err != nil {
			return
		}
		_ = IsUpgradeAttempt(r)
		u, err := CheckRequest(r)
		if err != nil {
			var he *HandshakeError
			if !errors.As(err, &he) || (he.Status != 400 && he.Status != 426) {
				t.Fatalf(
					"error %v",
					err)
			}
			return
		}
		// A nil error means a consistent upgrade.
		if r.Method != "GET" || r.Proto != httphead.HTTP11 || r.Count("Host") != 1 || u.Host != r.Get("Host") || !validHost(u.Host) {
			t.Fatalf(
				"accepted request line or Host: %q %q %q",
				r.Method, r.Proto, u.Host)
		}
		if !validKey(u.Key) || u.Version != "13" || r.Count("Sec-WebSocket-Key") != 1 || r.Count("Sec-WebSocket-Version") != 1 {
			t.Fatalf(
				"accepted key %q version %q",
				u.Key, u.Version)
		}
		if r.Count("Transfer-Encoding") != 0 || r.Count("HTTP2-Settings") != 0 || !httphead.HasToken(r.Values("Connection"), "upgrade") {
			t.Fatal("accepted framing or h2c headers")
		}
		for _, cl := range r.Values("Content-Length") {
			if cl != "0" {
				t.Fatal("accepted a body")
			}
		}
		if len(u.Protocols) > MaxOfferedProtocols || len(u.Extensions) > MaxOfferedExtensions {
			t.Fatal("accepted too many offers")
		}
		for _, p := range u.Protocols {
			if !httphead.IsToken(p) {
				t.Fatalf(
					"protocol %q",
					p)
			}
		}
		for _, e := range u.Extensions {
			if n, ok := countExtensions([]string{e}); !ok || n != 1 || ExtensionName(e) == "" {
				t.Fatalf(
					"extension %q",
					e)
			}
		}
		// What weir sends on is itself a valid upgrade carrying weir's key.
		out := AppendUpstreamRequest(nil, r, u, UpstreamOptions{Key: weirKey, ClientIP: netip.MustParseAddr("192.0.2.1")})
		back, err := httphead.ReadRequest(bufio.NewReaderSize(bytes.NewReader(out), 64<<10), httphead.Limits{MaxBytes: 64 << 10, MaxHeaders: 200})
		if err != nil {
			t.Fatalf(
				"upstream request unreadable: %v\n%q",
				err, out)
		}
		u2, err := CheckRequest(back)
		if err != nil || u2.Key != weirKey || u2.Host != u.Host {
			t.Fatalf(
				"upstream request not a valid upgrade: %v\n%q",
				err, out)
		}
		if back.Count("Connection") != 1 || back.Get("Connection") != "Upgrade" || back.Count("X-Forwarded-For") != 1 {
			t.Fatalf(
				"upstream hop-by-hop headers: %q",
				out)
		}
	})
}

// FuzzReadHeader checks ReadHeader's two paths against each other and
// against gobwas/ws: a header whole in the reader's buffer (decoded in
// place) and the same bytes arriving one per read (decoded by
// ws.ReadHeaderBuffer) give the same header, the same error and consume the
// same bytes; a header either accepts is the one ws.ReadHeader decodes.
func FuzzReadHeader(f *testing.F) {
	for _, role := range []Role{ServerSide, ClientSide} {
		for _, n := range []int{0, 125, 126, 300, 65535, 65536} {
			f.Add(frame(role, ws.OpBinary, true, rep(1, n))[:min(n, 20)])
		}
	}
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1})                // length MSB
	f.Add([]byte{0x82, 0x7e, 0, 5, 'h', 'e', 'l', 'l', 'o'})            // 126 for 5
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4}) // 127 for 65535
	f.Add([]byte{0xf2, 0xfe, 0x12, 0x34, 9, 8, 7, 6, 0xaa})             // RSV, masked, 126
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := bufio.NewReaderSize(bytes.NewReader(data), 64)
		if _, err := whole.Peek(min(len(data), 64)); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		cut := bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(data)), 64)
		h1, err1 := ReadHeader(whole, make([]byte, MaxHeaderSize))
		h2, err2 := ReadHeader(cut, make([]byte, MaxHeaderSize))
		if h1 != h2 || !sameError(err1, err2) {
			t.Fatalf("whole: %+v, %v; cut: %+v, %v", h1, err1, h2, err2)
		}
		if err1 != nil {
			return
		}
		rest1, _ := io.ReadAll(whole)
		rest2, _ := io.ReadAll(cut)
		if !bytes.Equal(rest1, rest2) {
			t.Fatalf("consumed differently: %d and %d bytes left", len(rest1), len(rest2))
		}
		h3, err := ws.ReadHeader(bytes.NewReader(data))
		if err != nil || h3 != h1 {
			t.Fatalf("gobwas/ws: %+v, %v; ReadHeader: %+v", h3, err, h1)
		}
		if n := len(data) - len(rest1); n != len(AppendHeader(nil, h1)) {
			t.Fatalf("consumed %d bytes for a %d-byte header", n, len(AppendHeader(nil, h1)))
		}
	})
}

// sameError: both nil, the same ProtocolError, or the same other error.
func sameError(a, b error) bool {
	var pa, pb ProtocolError
	if errors.As(a, &pa) && errors.As(b, &pb) {
		return pa == pb
	}
	return a == b
}

// FuzzFrames runs random bytes through ReadHeader and the Validator in both
// roles and several read sizes: it must never panic, and what it lets
// through must respect the rules.
func FuzzFrames(f *testing.F) {
	hello := []byte("Hello")
	for _, role := range []Role{ServerSide, ClientSide} {
		f.Add(cat(frame(role, ws.OpText, false, []byte("a\xf0")), frame(role, ws.OpPing, true, hello), frame(role, ws.OpContinuation, true, []byte("\x9f\x98\x80"))))
		f.Add(cat(frame(role, ws.OpBinary, true, rep(1, 300)), frame(role, ws.OpClose, true, []byte{3, 0xe8, 'x'})))
	}
	f.Add([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Add(rawFrame(0, ws.OpText, true, true, 126, hello))
	const maxFrame, maxMessage = 512, 2048
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, role := range []Role{ServerSide, ClientSide} {
			for _, chunk := range []int{1, 7, 4096} {
				r := relay(role, maxFrame, maxMessage, data, chunk)
				for _, m := range r.messages {
					if len(m.payload) > maxMessage {
						t.Fatalf(
							"message of %d bytes passed",
							len(m.payload))
					}
					if m.op == ws.OpText && !utf8.Valid(m.payload) {
						t.Fatalf(
							"invalid UTF-8 passed: %x",
							m.payload)
					}
				}
				if r.closed && !ValidCloseCode(r.close) && r.close != ws.StatusNoStatusRcvd {
					t.Fatalf(
						"close code %d passed",
						r.close)
				}
				switch r.code {
				case 0, 1002, 1007, 1009:
				default:
					t.Fatalf(
						"close code %d",
						r.code)
				}
				if r.ioErr != nil && !errors.Is(r.ioErr, io.ErrUnexpectedEOF) {
					t.Fatalf(
						"I/O error %v",
						r.ioErr)
				}
			}
		}
	})
}

func FuzzUTF8(f *testing.F) {
	for _, c := range utf8Cases {
		f.Add(mustHex(c.hex))
	}
	f.Add([]byte("plain ASCII, more than eight bytes long"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1024 {
			data = data[:1024]
		}
		checkSplits(t, data)
	})
}

func FuzzParseClose(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3})
	f.Add([]byte{3, 0xe8})
	f.Add(append([]byte{0x0f, 0xa1}, "bye"...))
	f.Add([]byte{3, 0xe8, 0xff})
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := ParseClose(p)
		if err != nil {
			var pe ProtocolError
			if !errors.As(err, &pe) || (pe.Code != 1002 && pe.Code != 1007) {
				t.Fatalf(
					"error %v",
					err)
			}
			return
		}
		if len(p) == 0 {
			if code != ws.StatusNoStatusRcvd || reason != nil {
				t.Fatal("empty payload")
			}
			return
		}
		if !ValidCloseCode(code) || !utf8.Valid(reason) || len(reason) != len(p)-2 {
			t.Fatalf(
				"accepted %d %q",
				code, reason)
		}
		// What weir writes back reads as the same close, the reason cut
		// to fit a control frame.
		b := AppendClose(nil, code, string(reason), true, testKey)
		r := relay(ServerSide, 1<<20, 1<<20, b, 4096)
		want := string(reason)
		want = want[:validPrefix(want, MaxCloseReason)]
		if r.code != 0 || r.close != code || r.reason != want {
			t.Fatalf(
				"echo: %+v",
				r)
		}
	})
}
