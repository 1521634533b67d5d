package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/internal/httphead"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

// acceptUpgrade answers a backend-side upgrade correctly.
func acceptUpgrade(c net.Conn, req *httphead.Request, extra ...string) {
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		wsproto.ComputeAccept(req.Get("Sec-WebSocket-Key")) + "\r\n"
	for _, h := range extra {
		resp += h + "\r\n"
	}
	_, _ = io.WriteString(c, resp+"\r\n")
}

// writeServerFrame writes an unmasked (backend) frame.
func writeServerFrame(c net.Conn, op ws.OpCode, fin bool, p []byte) error {
	return ws.WriteFrame(c, ws.NewFrame(op, fin, p))
}

func TestEchoWithSecondLibrary(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		h := startGateway(t, routeTo(startEcho(t), ""), noPoll)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws://"+h.addr+"/chat", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 101 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		c.SetReadLimit(4 << 20)
		for i, m := range []struct {
			typ  websocket.MessageType
			data []byte
		}{
			{websocket.MessageText, []byte("hello")},
			{websocket.MessageBinary, []byte{0, 1, 2, 255}},
			{websocket.MessageText, []byte("")},
			{websocket.MessageBinary, bytes.Repeat([]byte{7}, 1<<20)},
		} {
			if err := c.Write(ctx, m.typ, m.data); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil || typ != m.typ || !bytes.Equal(got, m.data) {
				t.Fatalf("message %d: %v %d bytes %v", i, typ, len(got), err)
			}
		}
		if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
			t.Fatalf("close: %v", err)
		}
	})
}

// H-01: the RFC 6455 §4.2.2 worked example, with header-case and
// Connection-list variants.
func TestHandshakeAccept(t *testing.T) {
	h := startGateway(t, routeTo(startEcho(t), ""), false)
	for _, conn := range []string{"Upgrade", "keep-alive, Upgrade", "upgrade"} {
		rc := dialRaw(t, h.addr)
		rc.send(fmt.Sprintf("GET /ws HTTP/1.1\r\nhost: weir.test\r\nupgrade: WebSocket\r\nconnection: %s\r\nsec-websocket-key: %s\r\nsec-websocket-version: 13\r\n\r\n", conn, sampleKey))
		resp := rc.response()
		if resp.Status != 101 || resp.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
			!strings.EqualFold(resp.Get("Upgrade"), "websocket") || !httphead.HasToken(resp.Values("Connection"), "upgrade") {
			t.Fatalf("Connection %q: %d %+v", conn, resp.Status, resp.Headers)
		}
	}
}

// H-02, H-03, H-04, S-03, S-04, S-07: malformed upgrades are answered before
// any backend connection is opened.
func TestHandshakeRejections(t *testing.T) {
	be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) { acceptUpgrade(c, req) })
	h := startGateway(t, routeTo(be.addr(), `    origins: ["https://app.example"]
    allow_missing_origin: true
`), false)
	std := func(drop string, add ...string) string {
		lines := []string{"Host: weir.test", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + sampleKey, "Sec-WebSocket-Version: 13"}
		var out []string
		for _, l := range lines {
			if drop == "" || !strings.HasPrefix(l, drop+":") {
				out = append(out, l)
			}
		}
		out = append(out, add...)
		return "GET /ws HTTP/1.1\r\n" + strings.Join(out, "\r\n") + "\r\n\r\n"
	}
	cases := []struct {
		id, name, req string
		status        int
		header        [2]string
	}{
		{"H-02", "version 8", std("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8"), 426, [2]string{"Sec-WebSocket-Version", "13"}},
		{"H-02", "version 13, 8", std("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13, 8"), 426, [2]string{"Sec-WebSocket-Version", "13"}},
		{"H-02", "version missing", std("Sec-WebSocket-Version"), 400, [2]string{}},
		{"H-02", "version twice", std("", "Sec-WebSocket-Version: 13"), 400, [2]string{}},
		{"H-03", "key missing", std("Sec-WebSocket-Key"), 400, [2]string{}},
		{"H-03", "key not base64", std("Sec-WebSocket-Key", "Sec-WebSocket-Key: !!!!"), 400, [2]string{}},
		{"H-03", "key 15 bytes", std("Sec-WebSocket-Key", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"), 400, [2]string{}},
		{"H-03", "two keys", std("", "Sec-WebSocket-Key: "+sampleKey), 400, [2]string{}},
		{"H-03", "POST", strings.Replace(std(""), "GET", "POST", 1), 400, [2]string{}},
		{"H-03", "HTTP/1.0", strings.Replace(std(""), "HTTP/1.1", "HTTP/1.0", 1), 400, [2]string{}},
		{"H-04", "no upgrade token in Connection", std("Connection", "Connection: keep-alive"), 400, [2]string{}},
		{"H-04", "websocket, h2c", std("Upgrade", "Upgrade: websocket, h2c"), 400, [2]string{}},
		{"S-03", "h2c", std("Upgrade", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"), 400, [2]string{}},
		{"S-04", "body", std("", "Content-Length: 48"), 400, [2]string{}},
		{"S-04", "chunked", std("", "Transfer-Encoding: chunked"), 400, [2]string{}},
		{"S-07", "Connection names Content-Length", std("Connection", "Connection: Upgrade, Content-Length"), 400, [2]string{}},
		{"H-05", "evil origin", std("", "Origin: https://evil.example"), 403, [2]string{}},
		{"H-05", "suffix origin", std("", "Origin: https://app.example.evil.com"), 403, [2]string{}},
		{"H-05", "scheme mismatch", std("", "Origin: http://app.example"), 403, [2]string{}},
		{"L-08", "10k subprotocols", std("", "Sec-WebSocket-Protocol: "+strings.Repeat("a,", 5000)+"a"), 400, [2]string{}},
		{"", "plain GET on a WebSocket route", "GET /ws HTTP/1.1\r\nHost: weir.test\r\n\r\n", 426, [2]string{"Upgrade", "websocket"}},
		{"", "garbage", "HELLO\r\n\r\n", 400, [2]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.id+" "+tc.name, func(t *testing.T) {
			rc := dialRaw(t, h.addr)
			rc.send(tc.req)
			resp := rc.response()
			if resp.Status != tc.status {
				t.Fatalf("status %d (%s), want %d", resp.Status, resp.Reason, tc.status)
			}
			if !httphead.HasToken(resp.Values("Connection"), "close") {
				t.Fatal("rejection without Connection: close")
			}
			if tc.header[0] != "" && resp.Get(tc.header[0]) != tc.header[1] {
				t.Fatalf("%s = %q, want %q", tc.header[0], resp.Get(tc.header[0]), tc.header[1])
			}
			rc.expectEOF()
		})
	}
	if n := be.connCount(); n != 0 {
		t.Fatalf("backend saw %d connections for rejected handshakes; want none", n)
	}
	// The allowed origin still works.
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws", "Origin: https://app.example")
}

// S-07 and B-03: hop-by-hop headers go before weir adds its own; a client
// cannot delete or forge X-Forwarded-For.
func TestUpstreamRequestHeaders(t *testing.T) {
	be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) { acceptUpgrade(c, req) })
	h := startGateway(t, routeTo(be.addr(), ""), false)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws?x=1", "Connection: Upgrade, X-Forwarded-For, X-Gateway-User, Authorization", "X-Forwarded-For: 1.2.3.4",
		"X-Gateway-User: mallory", "Authorization: Bearer t", "Cookie: a=b", "Sec-WebSocket-Protocol: chat")
	req := be.lastRequest()
	if req == nil {
		t.Fatal("backend saw no request")
	}
	if req.Target != "/ws?x=1" || req.Method != "GET" {
		t.Fatalf("request line %s %s", req.Method, req.Target)
	}
	if got := req.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q, want the socket peer only", got)
	}
	if req.Count("X-Gateway-User") != 0 || req.Count("Authorization") != 0 {
		t.Fatal("headers nominated by Connection reached the backend")
	}
	if req.Get("Cookie") != "a=b" || req.Get("Sec-WebSocket-Protocol") != "chat" {
		t.Fatal("end-to-end headers lost")
	}
	if req.Get("Sec-WebSocket-Key") == sampleKey {
		t.Fatal("the client's key was forwarded; weir must use its own")
	}
	if req.Get("X-Forwarded-Host") != "weir.test" || req.Get("X-Forwarded-Proto") != "http" || !strings.Contains(req.Get("Forwarded"), "for=127.0.0.1") {
		t.Fatalf("forwarding headers: %+v", req.Headers)
	}
}

// B-03: forwarding headers from a peer inside server.trusted_proxies are
// kept and weir adds the peer after them; from any other peer they are
// dropped, whatever else is trusted (an IPv4 peer is matched against IPv4
// prefixes, a prefix is taken at its network).
func TestTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		name, trusted string
		believed      bool
	}{
		{"loopback trusted", "[10.0.0.0/8, 127.0.0.0/8]", true},
		{"host bits in the prefix", "[127.0.0.9/8]", true},
		{"other networks only", "[10.0.0.0/8, \"::1/128\", 127.0.0.2/32]", false},
		{"none", "[]", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) { acceptUpgrade(c, req) })
			h := startGateway(t, "server: {trusted_proxies: "+c.trusted+"}\n"+routeTo(be.addr(), ""), false)
			rc := dialRaw(t, h.addr)
			rc.upgrade("/ws", "X-Forwarded-For: 203.0.113.7, 10.1.2.3", "X-Forwarded-Proto: https",
				"X-Forwarded-Host: app.example", "Forwarded: for=203.0.113.7;proto=https")
			req := be.lastRequest()
			if req == nil {
				t.Fatal("backend saw no request")
			}
			want := map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Host":  "weir.test",
				"Forwarded":         "for=127.0.0.1;proto=http;host=weir.test",
			}
			if c.believed {
				want = map[string]string{
					"X-Forwarded-For":   "203.0.113.7, 10.1.2.3, 127.0.0.1",
					"X-Forwarded-Proto": "https",
					"X-Forwarded-Host":  "app.example",
					"Forwarded":         "for=203.0.113.7;proto=https, for=127.0.0.1;proto=http;host=weir.test",
				}
			}
			for name, v := range want {
				if got := req.Values(name); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want [%q]", name, got, v)
				}
			}
		})
	}
}

// S-01, S-02, B-04: a backend that does not switch properly never gets a
// tunnel; the client's further bytes never reach it.
func TestBackendAnswers(t *testing.T) {
	cases := []struct {
		id, name string
		answer   func(c net.Conn, req *httphead.Request)
		status   int
	}{
		{"S-01", "404", func(c net.Conn, _ *httphead.Request) {
			io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope\n")
		}, 404},
		{"S-01", "426", func(c net.Conn, _ *httphead.Request) {
			io.WriteString(c, "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n")
		}, 426},
		{"S-01", "200", func(c net.Conn, _ *httphead.Request) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}, 502},
		{"S-02", "wrong accept", func(c net.Conn, _ *httphead.Request) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		}, 502},
		{"S-02", "h2c", func(c net.Conn, req *httphead.Request) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+wsproto.ComputeAccept(req.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		}, 502},
		{"S-02", "no Connection", func(c net.Conn, req *httphead.Request) {
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: "+wsproto.ComputeAccept(req.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		}, 502},
		{"H-07", "unrequested extension", func(c net.Conn, req *httphead.Request) {
			acceptUpgrade(c, req, "Sec-WebSocket-Extensions: permessage-deflate")
		}, 502},
		{"H-07", "unrequested subprotocol", func(c net.Conn, req *httphead.Request) {
			acceptUpgrade(c, req, "Sec-WebSocket-Protocol: admin")
		}, 502},
		{"B-04", "silent backend", func(c net.Conn, _ *httphead.Request) {
			var b [1]byte
			c.Read(b[:]) // wait until weir gives up
		}, 504},
	}
	for _, tc := range cases {
		t.Run(tc.id+" "+tc.name, func(t *testing.T) {
			after := make(chan []byte, 1)
			be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
				tc.answer(c, req)
				_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
				rest, _ := io.ReadAll(br)
				after <- rest
			})
			h := startGateway(t, routeTo(be.addr(), "    timeouts: {handshake: 500ms}\n"), false)
			rc := dialRaw(t, h.addr)
			rc.send(upgradeRequest("/ws"))
			resp := rc.response()
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d", resp.Status, tc.status)
			}
			if !httphead.HasToken(resp.Values("Connection"), "close") {
				t.Fatal("no Connection: close")
			}
			// The smuggling attempt: a second request on the same connection.
			io.WriteString(rc.c, "GET /internal HTTP/1.1\r\nHost: x\r\n\r\n")
			rc.expectEOF()
			select {
			case rest := <-after:
				if bytes.Contains(rest, []byte("/internal")) {
					t.Fatal("the client's bytes after a refused upgrade reached the backend")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("backend connection not closed")
			}
		})
	}
}

// B-04: nothing listening → 503 with Retry-After.
func TestNoBackend(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	h := startGateway(t, routeTo(addr, "    timeouts: {connect: 500ms}\n"), false)
	rc := dialRaw(t, h.addr)
	rc.send(upgradeRequest("/ws"))
	resp := rc.response()
	if resp.Status != 503 || resp.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q; want 503 with Retry-After", resp.Status, resp.Get("Retry-After"))
	}
}

func TestUnknownRoute404(t *testing.T) {
	h := startGateway(t, `routes:
  - name: ws
    match: {path_prefix: /ws}
    backends: {members: [{address: "builtin:echo"}]}
`, false)
	rc := dialRaw(t, h.addr)
	rc.send(upgradeRequest("/other"))
	if resp := rc.response(); resp.Status != 404 {
		t.Fatalf("status %d, want 404", resp.Status)
	}
	rc = dialRaw(t, h.addr)
	rc.send(upgradeRequest("/wsx")) // a prefix matches at segment boundaries only
	if resp := rc.response(); resp.Status != 404 {
		t.Fatalf("/wsx: status %d, want 404", resp.Status)
	}
}

// F-01…F-07: protocol violations from the client get the RFC's close code,
// and the backend gets 1001.
func TestClientProtocolViolations(t *testing.T) {
	big := make([]byte, 200)
	cases := []struct {
		id, name string
		send     func(rc *rawClient)
		code     ws.StatusCode
	}{
		{"F-01 (1.1.x)", "unmasked frame", func(rc *rawClient) { rc.frameOpts(ws.OpText, true, []byte("hi"), false, 0) }, ws.StatusProtocolError},
		{"F-02 (3.1)", "RSV1", func(rc *rawClient) { rc.frameOpts(ws.OpText, true, []byte("hi"), true, 4) }, ws.StatusProtocolError},
		{"F-02 (3.3)", "RSV3", func(rc *rawClient) { rc.frameOpts(ws.OpText, true, []byte("hi"), true, 1) }, ws.StatusProtocolError},
		{"F-02 (4.1.1)", "opcode 3", func(rc *rawClient) { rc.frame(ws.OpCode(3), true, nil) }, ws.StatusProtocolError},
		{"F-02 (4.2.1)", "opcode 11", func(rc *rawClient) { rc.frame(ws.OpCode(11), true, nil) }, ws.StatusProtocolError},
		{"F-03 (2.5)", "ping 126 bytes", func(rc *rawClient) { rc.frame(ws.OpPing, true, big[:126]) }, ws.StatusProtocolError},
		{"F-03 (5.1)", "fragmented ping", func(rc *rawClient) { rc.frame(ws.OpPing, false, []byte("a")) }, ws.StatusProtocolError},
		{"F-03 (7.3.6)", "close 126 bytes", func(rc *rawClient) { rc.frame(ws.OpClose, true, append([]byte{3, 232}, big[:124]...)) }, ws.StatusProtocolError},
		{"F-04 (5.9)", "continuation first", func(rc *rawClient) { rc.frame(ws.OpContinuation, true, []byte("x")) }, ws.StatusProtocolError},
		{"F-04 (5.18)", "text inside a fragmented message", func(rc *rawClient) {
			rc.frame(ws.OpText, false, []byte("a"))
			rc.frame(ws.OpText, true, []byte("b"))
		}, ws.StatusProtocolError},
		{"F-05 (6.3.1)", "invalid UTF-8", func(rc *rawClient) {
			rc.frame(ws.OpText, true, []byte{0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64})
		}, ws.StatusInvalidFramePayloadData},
		{"F-05 (6.4.2)", "invalid UTF-8 in 2nd fragment", func(rc *rawClient) {
			rc.frame(ws.OpText, false, []byte("ok"))
			rc.frame(ws.OpContinuation, false, []byte{0xf4, 0x90, 0x80, 0x80}) // fails fast: weir may hang up at once
		}, ws.StatusInvalidFramePayloadData},
		{"F-06 (7.3.2)", "close 1-byte payload", func(rc *rawClient) { rc.frame(ws.OpClose, true, []byte{3}) }, ws.StatusProtocolError},
		{"F-06 (7.9.1)", "close code 0", func(rc *rawClient) { rc.frame(ws.OpClose, true, []byte{0, 0}) }, ws.StatusProtocolError},
		{"F-06 (7.9.2)", "close code 999", func(rc *rawClient) { rc.frame(ws.OpClose, true, closePayload(999, "")) }, ws.StatusProtocolError},
		{"F-06 (7.9.4)", "close code 1005", func(rc *rawClient) { rc.frame(ws.OpClose, true, closePayload(1005, "")) }, ws.StatusProtocolError},
		{"F-06 (7.9.6)", "close code 1015", func(rc *rawClient) { rc.frame(ws.OpClose, true, closePayload(1015, "")) }, ws.StatusProtocolError},
		{"F-06 (7.9.9)", "close code 5000", func(rc *rawClient) { rc.frame(ws.OpClose, true, closePayload(5000, "")) }, ws.StatusProtocolError},
		{"F-06 (7.5.1)", "close reason not UTF-8", func(rc *rawClient) { rc.frame(ws.OpClose, true, append([]byte{3, 232}, 0xff, 0xfe)) }, ws.StatusInvalidFramePayloadData},
		{"F-07", "length MSB set", func(rc *rawClient) {
			rc.c.Write([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4})
		}, ws.StatusProtocolError},
		{"F-07", "length 2^62", func(rc *rawClient) {
			rc.c.Write([]byte{0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4})
		}, ws.StatusMessageTooBig},
		{"F-07", "non-minimal 16-bit length", func(rc *rawClient) {
			rc.c.Write(append([]byte{0x81, 0xfe, 0x00, 0x05, 0, 0, 0, 0}, "hello"...))
		}, ws.StatusProtocolError},
		{"L-01", "2 MiB frame over a 1 MiB limit", func(rc *rawClient) {
			rc.c.Write([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 2, 3, 4})
		}, ws.StatusMessageTooBig},
		{"L-01", "continuations over the message limit", func(rc *rawClient) {
			// Written without checking: weir may end the session before
			// the last of these is out.
			chunk := make([]byte, 64<<10)
			_ = ws.WriteFrame(rc.c, ws.MaskFrameInPlace(ws.NewFrame(ws.OpBinary, false, chunk)))
			for i := 0; i < 20; i++ {
				_ = ws.WriteFrame(rc.c, ws.MaskFrameInPlace(ws.NewFrame(ws.OpContinuation, false, chunk)))
			}
		}, ws.StatusMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.id+" "+tc.name, func(t *testing.T) {
			pollModes(t, func(t *testing.T, noPoll bool) {
				backendClose := make(chan ws.StatusCode, 1)
				be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
					acceptUpgrade(c, req)
					for {
						f, err := ws.ReadFrame(br)
						if err != nil {
							backendClose <- 0
							return
						}
						if f.Header.OpCode == ws.OpClose {
							f = ws.UnmaskFrameInPlace(f)
							code, _ := closeOf(f)
							writeServerFrame(c, ws.OpClose, true, f.Payload)
							backendClose <- code
							return
						}
					}
				})
				h := startGateway(t, routeTo(be.addr(), ""), noPoll)
				rc := dialRaw(t, h.addr)
				rc.upgrade("/ws")
				tc.send(rc)
				code, _ := rc.expectClose()
				if code != tc.code {
					t.Fatalf("close %d, want %d", code, tc.code)
				}
				select {
				case bc := <-backendClose:
					if bc != ws.StatusGoingAway {
						t.Fatalf("backend got close %d, want 1001", bc)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("backend never told")
				}
				rc.expectEOF()
			})
		})
	}
}

// F-04 (5.6): a ping between fragments is answered and the message arrives
// intact; F-05: a code point split across fragments is fine.
func TestFragmentsAndPings(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		h := startGateway(t, routeTo(startEcho(t), ""), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		euro := []byte("€") // e2 82 ac
		rc.frame(ws.OpText, false, append([]byte("price: "), euro[0]))
		rc.frame(ws.OpPing, true, []byte("mid"))
		rc.frame(ws.OpContinuation, false, euro[1:2])
		rc.frame(ws.OpContinuation, true, append(euro[2:], '5'))
		sawPong := false
		var msg []byte
		for done := false; !done; {
			f := rc.readFrame()
			switch f.Header.OpCode {
			case ws.OpPong:
				if string(f.Payload) != "mid" {
					t.Fatalf("pong payload %q", f.Payload)
				}
				sawPong = true
			case ws.OpText, ws.OpContinuation:
				msg = append(msg, f.Payload...)
				done = f.Header.Fin
			default:
				t.Fatalf("unexpected frame %v", f.Header.OpCode)
			}
		}
		if !sawPong {
			t.Fatal("ping not answered before the message completed")
		}
		if string(msg) != "price: €5" {
			t.Fatalf("message %q", msg)
		}
	})
}

// D-02: close codes and reasons cross intact both ways; a backend that
// vanishes costs the client 1011, never 1006.
func TestClosePropagation(t *testing.T) {
	t.Run("backend closes 4001", func(t *testing.T) {
		pollModes(t, func(t *testing.T, noPoll bool) {
			be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
				acceptUpgrade(c, req)
				writeServerFrame(c, ws.OpClose, true, closePayload(4001, "bye"))
				ws.ReadFrame(br) // the relayed answer
			})
			h := startGateway(t, routeTo(be.addr(), ""), noPoll)
			rc := dialRaw(t, h.addr)
			rc.upgrade("/ws")
			code, reason := rc.expectClose()
			if code != 4001 || reason != "bye" {
				t.Fatalf("client got %d %q, want 4001 bye", code, reason)
			}
			rc.frame(ws.OpClose, true, closePayload(4001, "bye"))
			rc.expectEOF()
		})
	})
	t.Run("client closes 1000", func(t *testing.T) {
		pollModes(t, func(t *testing.T, noPoll bool) {
			got := make(chan string, 1)
			be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
				acceptUpgrade(c, req)
				f, err := ws.ReadFrame(br)
				if err != nil || f.Header.OpCode != ws.OpClose || !f.Header.Masked {
					got <- fmt.Sprintf("bad frame %v %v", f.Header, err)
					return
				}
				f = ws.UnmaskFrameInPlace(f)
				code, reason := closeOf(f)
				got <- fmt.Sprintf("%d %s", code, reason)
				writeServerFrame(c, ws.OpClose, true, f.Payload)
			})
			h := startGateway(t, routeTo(be.addr(), ""), noPoll)
			rc := dialRaw(t, h.addr)
			rc.upgrade("/ws")
			rc.frame(ws.OpClose, true, closePayload(1000, "done"))
			if g := <-got; g != "1000 done" {
				t.Fatalf("backend got %s", g)
			}
			if code, _ := rc.expectClose(); code != 1000 {
				t.Fatalf("client got close %d, want the backend's 1000", code)
			}
			rc.expectEOF()
		})
	})
	t.Run("backend drops TCP", func(t *testing.T) {
		pollModes(t, func(t *testing.T, noPoll bool) {
			be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
				acceptUpgrade(c, req)
				c.(*net.TCPConn).SetLinger(0)
			})
			h := startGateway(t, routeTo(be.addr(), ""), noPoll)
			rc := dialRaw(t, h.addr)
			rc.upgrade("/ws")
			if code, _ := rc.expectClose(); code != ws.StatusInternalServerError {
				t.Fatalf("client got %d, want 1011", code)
			}
		})
	})
	t.Run("F-06 data after close is dropped", func(t *testing.T) {
		got := make(chan []ws.OpCode, 1)
		be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
			acceptUpgrade(c, req)
			var ops []ws.OpCode
			for {
				f, err := ws.ReadFrame(br)
				if err != nil {
					break
				}
				ops = append(ops, f.Header.OpCode)
				if f.Header.OpCode == ws.OpClose {
					// Hold the answer back so the client's late frame arrives first.
					_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					if f2, err := ws.ReadFrame(br); err == nil {
						ops = append(ops, f2.Header.OpCode)
					}
					writeServerFrame(c, ws.OpClose, true, ws.UnmaskFrameInPlace(f).Payload)
					break
				}
			}
			got <- ops
		})
		h := startGateway(t, routeTo(be.addr(), ""), false)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		rc.frame(ws.OpClose, true, closePayload(1000, ""))
		rc.frame(ws.OpText, true, []byte("late"))
		ops := <-got
		if len(ops) != 1 || ops[0] != ws.OpClose {
			t.Fatalf("backend saw %v; want only the close", ops)
		}
	})
}

// D-01: SHA-256 equal end to end for messages of 0 B to 16 MiB, text and
// binary, fragmented at random boundaries by the client, and re-fragmented
// at random by the backend on the way back.
func TestDataIntegrity(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		be := startScripted(t, fragmentingEcho)
		h := startGateway(t, routeTo(be.addr(), "    limits: {max_message_bytes: 17MiB, max_frame_bytes: 17MiB}\n"), noPoll)
		rc := dialRaw(t, h.addr)
		checkIntegrity(t, rc)
	})
}

// checkIntegrity sends messages of 0 B to 16 MiB, text and binary, cut
// into random fragments, and checks each comes back intact from an echo
// backend; then it closes with 1000.
func checkIntegrity(t *testing.T, rc *rawClient) {
	t.Helper()
	_ = rc.c.SetDeadline(time.Now().Add(60 * time.Second))
	rc.upgrade("/ws")
	rng := mrand.New(mrand.NewPCG(1, 2))
	sizes := []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20}
	if testing.Short() {
		sizes = sizes[:7]
	}
	for _, size := range sizes {
		for _, op := range []ws.OpCode{ws.OpBinary, ws.OpText} {
			msg := make([]byte, size)
			if op == ws.OpBinary {
				rand.Read(msg)
			} else {
				for i := range msg {
					msg[i] = "aé€😀"[rng.IntN(4)] // bytes of multi-byte runes get split at random below
				}
				msg = []byte(strings.ToValidUTF8(string(msg), "?"))
				if len(msg) > size {
					msg = msg[:size]
				}
				msg = []byte(strings.ToValidUTF8(string(msg), ""))
			}
			want := sha256.Sum256(msg)
			done := make(chan struct{})
			go func() { // write while reading: large messages exceed socket buffers
				defer close(done)
				sendFragmented(rc, rng, op, msg)
			}()
			gotOp, got := rc.readMessage()
			<-done
			if gotOp != op || sha256.Sum256(got) != want {
				t.Fatalf("size %d op %v: got op %v, %d bytes, hash mismatch=%v", size, op, gotOp, len(got), sha256.Sum256(got) != want)
			}
		}
	}
	rc.frame(ws.OpClose, true, closePayload(1000, ""))
	if code, _ := rc.expectClose(); code != 1000 {
		t.Fatalf("close %d", code)
	}
}

func sendFragmented(rc *rawClient, rng *mrand.Rand, op ws.OpCode, msg []byte) {
	_ = cutRandomly(rng, op, msg, func(o ws.OpCode, fin bool, part []byte) error {
		return ws.WriteFrame(rc.c, ws.MaskFrameInPlace(ws.NewFrame(o, fin, append([]byte(nil), part...))))
	})
}

// cutRandomly hands msg to frame as a message of random fragments: the
// first carries op, the rest are continuations, the last has Fin. It stops
// at the first error.
func cutRandomly(rng *mrand.Rand, op ws.OpCode, msg []byte, frame func(op ws.OpCode, fin bool, part []byte) error) error {
	for first := true; ; first = false {
		n := len(msg)
		if n > 1 && rng.IntN(3) > 0 {
			n = 1 + rng.IntN(n)
		}
		o := ws.OpContinuation
		if first {
			o = op
		}
		last := n == len(msg)
		if err := frame(o, last, msg[:n]); err != nil || last {
			return err
		}
		msg = msg[n:]
	}
}

// fragmentingEcho is a backend that reassembles each message and sends it
// back cut into random fragments.
func fragmentingEcho(c net.Conn, br *bufio.Reader, req *httphead.Request) {
	acceptUpgrade(c, req)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	rng := mrand.New(mrand.NewPCG(3, 4))
	bw := bufio.NewWriterSize(c, 64<<10)
	var msg []byte
	var op ws.OpCode
	for {
		f, err := ws.ReadFrame(br)
		if err != nil {
			return
		}
		if !f.Header.Masked {
			return // weir must mask toward the backend
		}
		f = ws.UnmaskFrameInPlace(f)
		switch f.Header.OpCode {
		case ws.OpClose:
			writeServerFrame(c, ws.OpClose, true, f.Payload)
			return
		case ws.OpPing, ws.OpPong:
			continue
		case ws.OpContinuation:
		default:
			op = f.Header.OpCode
			msg = msg[:0]
		}
		msg = append(msg, f.Payload...)
		if !f.Header.Fin {
			continue
		}
		_ = cutRandomly(rng, op, msg, func(o ws.OpCode, fin bool, part []byte) error {
			return ws.WriteFrame(bw, ws.NewFrame(o, fin, part))
		})
		if bw.Flush() != nil {
			return
		}
	}
}

// A frame that fits in the reader reaches the backend whole even when it
// arrives in two reads. A start whose rest does not come within the linger
// time is relayed as a fragment before the pump parks (nothing stays behind
// in a parked pump), and the message stays intact.
func TestFrameCutByReads(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		b, frames := startRecorder(t)
		h := startGateway(t, routeTo(b.addr(), ""), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		next := func() ws.Frame {
			t.Helper()
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatal("backend connection ended")
				}
				return f
			case <-time.After(10 * time.Second):
				t.Fatal("no frame reached the backend")
			}
			return ws.Frame{}
		}

		payload := make([]byte, 20<<10)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		f := ws.MaskFrameInPlace(ws.NewFrame(ws.OpBinary, true, append([]byte(nil), payload...)))
		var wire bytes.Buffer
		if err := ws.WriteFrame(&wire, f); err != nil {
			t.Fatal(err)
		}
		cut := wire.Len() / 3
		rc.send(wire.String()[:cut])
		var got []byte
		if !noPoll {
			// The rest is withheld until the start came through: it must
			// come as a fragment once the pump gives up waiting.
			first := next()
			if first.Header.Fin || first.Header.OpCode != ws.OpBinary || len(first.Payload) == 0 {
				t.Fatalf("first part: fin=%v op=%v len=%d, want an unfinished binary fragment", first.Header.Fin, first.Header.OpCode, len(first.Payload))
			}
			got = append(got, first.Payload...)
		}
		rc.send(wire.String()[cut:])
		for {
			f := next()
			got = append(got, f.Payload...)
			if f.Header.Fin {
				break
			}
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("message changed: got %d bytes", len(got))
		}

		// Both halves sent back to back: blocking pumps always wait for the
		// rest, so the frame arrives whole.
		if noPoll {
			rc.send(wire.String()[:cut])
			rc.send(wire.String()[cut:])
			f := next()
			if !f.Header.Fin || !bytes.Equal(f.Payload, payload) {
				t.Fatalf("fin=%v len=%d, want the whole frame at once", f.Header.Fin, len(f.Payload))
			}
		}
	})
}

// L-06: a silent client is pinged; one that never answers is cut.
func TestKeepalive(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		h := startGateway(t, routeTo(startEcho(t), "    limits: {ping_interval: 100ms, pong_timeout: 300ms}\n"), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		f := rc.readFrame()
		if f.Header.OpCode != ws.OpPing {
			t.Fatalf("got %v, want a ping", f.Header.OpCode)
		}
		rc.frame(ws.OpPong, true, f.Payload)
		// Now stop answering: weir must give up and close.
		for i := 0; i < 100; i++ {
			f, err := ws.ReadFrame(rc.br)
			if err != nil {
				return // TCP closed: fine
			}
			if f.Header.OpCode == ws.OpClose {
				return
			}
		}
		t.Fatal("silent client never cut")
	})
}

// L-06: idle_timeout counts data frames either way: a session that keeps
// talking outlives it several times over, and one that falls silent is
// closed with 1001.
func TestIdleTimeout(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		const idle = 400 * time.Millisecond
		h := startGateway(t, routeTo(startEcho(t), "    limits: {idle_timeout: 400ms, ping_interval: 0s}\n"), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		for start := time.Now(); time.Since(start) < 3*idle; {
			rc.frame(ws.OpText, true, []byte("still here"))
			if f := rc.readFrame(); f.Header.OpCode != ws.OpText {
				t.Fatalf("after %v of traffic: got %v, want the echo", time.Since(start), f.Header.OpCode)
			}
			time.Sleep(idle / 8) // the traffic's pace, not a wait for an event
		}
		code, reason := rc.expectClose()
		if code != ws.StatusGoingAway || reason != "idle timeout" {
			t.Fatalf("close %d %q, want 1001 idle timeout", code, reason)
		}
	})
}

// Message rate limit: the client over its budget gets 1008.
func TestMessageRateLimit(t *testing.T) {
	h := startGateway(t, routeTo(startEcho(t), "    limits: {messages_per_second: 1, burst: 3}\n"), false)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws")
	// One write for all ten: weir may close after the fourth, and a
	// frame-by-frame write would then fail with a broken pipe.
	var burst bytes.Buffer
	for i := 0; i < 10; i++ {
		if err := ws.WriteFrame(&burst, ws.MaskFrameInPlace(ws.NewTextFrame([]byte("x")))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rc.c.Write(burst.Bytes()); err != nil {
		t.Fatal(err)
	}
	if code, _ := rc.expectClose(); code != ws.StatusPolicyViolation {
		t.Fatalf("close %d, want 1008", code)
	}
}

// G-01: a drain closes live sessions with 1001 on both legs and refuses new
// handshakes.
func TestDrain(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		backendGot := make(chan ws.StatusCode, 4)
		be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
			acceptUpgrade(c, req)
			for {
				f, err := ws.ReadFrame(br)
				if err != nil {
					return
				}
				if f.Header.OpCode == ws.OpClose {
					f = ws.UnmaskFrameInPlace(f)
					code, _ := closeOf(f)
					backendGot <- code
					writeServerFrame(c, ws.OpClose, true, f.Payload)
					return
				}
			}
		})
		h := startGateway(t, routeTo(be.addr(), ""), noPoll)
		var clients []*rawClient
		for i := 0; i < 3; i++ {
			rc := dialRaw(t, h.addr)
			rc.upgrade("/ws")
			clients = append(clients, rc)
		}
		// The third client never answers the close: the close timeout cuts it.
		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			shut <- h.srv.Shutdown(ctx)
		}()
		for i, rc := range clients {
			if code, _ := rc.expectClose(); code != ws.StatusGoingAway {
				t.Fatalf("client %d got %d, want 1001", i, code)
			}
			if i < 2 {
				rc.frame(ws.OpClose, true, closePayload(1001, ""))
			}
		}
		for i := 0; i < 3; i++ {
			select {
			case code := <-backendGot:
				if code != ws.StatusGoingAway {
					t.Fatalf("backend got %d", code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("backend not told")
			}
		}
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if _, err := net.DialTimeout("tcp", h.addr, time.Second); err == nil {
			t.Fatal("listener still accepting after the drain")
		}
	})
}

// Tunnel mode: opaque relay after a validated 101, extensions end to end.
func TestTunnel(t *testing.T) {
	be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		acceptUpgrade(c, req, "Sec-WebSocket-Extensions: permessage-deflate")
		io.Copy(c, br) // raw byte echo
	})
	h := startGateway(t, routeTo(be.addr(), "    relay: tunnel\n"), false)
	rc := dialRaw(t, h.addr)
	resp := rc.upgrade("/ws", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	if resp.Get("Sec-WebSocket-Extensions") != "permessage-deflate" {
		t.Fatalf("extension not negotiated end to end: %q", resp.Get("Sec-WebSocket-Extensions"))
	}
	payload := bytes.Repeat([]byte("tunnel"), 10000)
	go rc.frame(ws.OpBinary, true, payload)
	f, err := ws.ReadFrame(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	// The raw echo returns the client's own masked frame, untouched.
	f = ws.UnmaskFrameInPlace(f)
	if !bytes.Equal(f.Payload, payload) {
		t.Fatal("tunnel changed the bytes")
	}
}

// busyGoroutines counts the process's goroutines but the server's idle
// workers, which belong to no session.
func (s *Server) busyGoroutines() int {
	return runtime.NumGoroutine() - int(s.workers.idle.Load())
}

func (s *Server) idlePipes() int {
	s.pipes.mu.Lock()
	defer s.pipes.mu.Unlock()
	return len(s.pipes.free)
}

// Tunnel data integrity and half-close: 1 MiB of random bytes each way,
// and the client's end of stream reaches the backend, whose answer after it
// still reaches the client, then the backend's end of stream.
func TestTunnelIntegrityAndHalfClose(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		h := startGateway(t, routeTo(startHashBackend(t).addr(), "    relay: tunnel\n"), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		checkHashExchange(t, rc)
	})
}

// startHashBackend starts a backend for tunnels that reads until the
// client's half-close, then answers the SHA-256 of what it read, the bytes
// themselves and its own half-close.
func startHashBackend(t *testing.T) *scriptedBackend {
	return startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		acceptUpgrade(c, req)
		got, err := io.ReadAll(br)
		if err != nil {
			return
		}
		sum := sha256.Sum256(got)
		c.Write(sum[:])
		c.Write(got)
		c.(*net.TCPConn).CloseWrite()
	})
}

// checkHashExchange sends 1 MiB of random bytes and a half-close through rc
// to a startHashBackend, and checks its whole answer up to its end of stream.
func checkHashExchange(t *testing.T, rc *rawClient) {
	t.Helper()
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	go func() {
		rc.c.Write(payload)
		rc.c.(*net.TCPConn).CloseWrite()
	}()
	back, err := io.ReadAll(rc.br)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(payload)
	if len(back) != 32+len(payload) || !bytes.Equal(back[:32], want[:]) || !bytes.Equal(back[32:], payload) {
		t.Fatalf("got %d bytes back; want the backend's hash of what the client sent and the bytes themselves", len(back))
	}
}

// startByteEcho starts a backend for tunnels that upgrades and then echoes
// raw bytes. A plain loop: io.Copy here would splice and hold pipes of its
// own, which TestTunnelIdleCost would count as weir's.
func startByteEcho(t *testing.T) *scriptedBackend {
	return startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		acceptUpgrade(c, req)
		buf := make([]byte, 512)
		for {
			n, err := br.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

// A tunnel's only limit is its idle timeout: bytes keep it open, silence
// ends it (both connections closed), in both idle-session modes.
func TestTunnelIdleTimeout(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		be := startByteEcho(t)
		const idle = 300 * time.Millisecond
		h := startGateway(t, routeTo(be.addr(), "    relay: tunnel\n    limits: {idle_timeout: 300ms}\n"), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		for start := time.Now(); time.Since(start) < 3*idle; {
			rc.c.Write([]byte("tick"))
			if _, err := io.ReadFull(rc.br, make([]byte, 4)); err != nil {
				t.Fatalf("after %v of traffic: %v", time.Since(start), err)
			}
			time.Sleep(idle / 8) // the traffic's pace, not a wait for an event
		}
		rc.expectEOF()
	})
}

// Idle tunnels hold no goroutine and no pipe: two descriptors per session
// in weir (its two sockets). The test process also holds the client's and
// the backend's ends, so four per session in all; splice-based relaying
// held eight.
func TestTunnelIdleCost(t *testing.T) {
	be := startByteEcho(t)
	h := startGateway(t, routeTo(be.addr(), "    relay: tunnel\n"), false)
	const n = 40
	g0, f0 := h.srv.busyGoroutines(), countFDs()
	for i := 0; i < n; i++ {
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		rc.c.Write([]byte("ping"))
		if _, err := io.ReadFull(rc.br, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
	}
	// The pumps linger briefly after the echo, then park.
	var g, f int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		// Pipes kept in the server's pool for reuse belong to no session.
		g, f = h.srv.busyGoroutines()-g0, countFDs()-f0-2*h.srv.idlePipes()
		// One goroutine per session is the scripted backend's own.
		if g <= n+5 && f <= 4*n+5 {
			return
		}
	}
	t.Fatalf("%d idle tunnels: %d more goroutines (want about %d, the backend's) and %d more descriptors (want about %d)", n, g, n, f, 4*n)
}

// The frame engine declines extensions (it would have to parse them).
func TestFramesDeclinesExtensions(t *testing.T) {
	be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		if req.Count("Sec-WebSocket-Extensions") != 0 {
			io.WriteString(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
			return
		}
		acceptUpgrade(c, req)
	})
	h := startGateway(t, routeTo(be.addr(), ""), false)
	rc := dialRaw(t, h.addr)
	resp := rc.upgrade("/ws", "Sec-WebSocket-Extensions: permessage-deflate")
	if resp.Count("Sec-WebSocket-Extensions") != 0 {
		t.Fatal("frame engine accepted an extension")
	}
}

// The demo page is served on the default configuration's "/" route.
func TestDemoPage(t *testing.T) {
	h := startGateway(t, `routes:
  - name: demo
    match: {path: /}
    serve: demo_page
`, false)
	rc := dialRaw(t, h.addr)
	rc.send("GET / HTTP/1.1\r\nHost: weir.test\r\n\r\n")
	resp := rc.response()
	if resp.Status != 200 || !strings.HasPrefix(resp.Get("Content-Type"), "text/html") {
		t.Fatalf("demo page: %d %v", resp.Status, resp.Headers)
	}
	body, _ := io.ReadAll(rc.br)
	if !bytes.Contains(body, []byte("new WebSocket(")) {
		t.Fatal("demo page does not open a WebSocket")
	}
}

// fixedOutput is what the "fixed" test filter turns every message into: a
// buffer weir does not own, large enough to be written with writev.
var fixedOutput = bytes.Repeat([]byte("weir"), 2<<10)

type fixedFilter struct{}

func (fixedFilter) OnMessage(_ context.Context, _ *filters.Session, m *filters.Message) (filters.Verdict, error) {
	m.Op, m.Payload = ws.OpBinary, fixedOutput
	return filters.Continue, nil
}

func (fixedFilter) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return fixedFilter{}, nil
}

// A large filter output that weir does not own is masked for the backend in
// a copy, never in place; one it does own (the reassembled message) may be.
// Both arrive intact, and the filter's buffer is unchanged.
func TestFilterOutputNotMaskedInPlace(t *testing.T) {
	want := bytes.Clone(fixedOutput)
	fixed := filters.Info{Name: "fixed", New: func(json.RawMessage) (filters.Factory, error) { return fixedFilter{}, nil }}
	be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		acceptUpgrade(c, req)
		for {
			f, err := ws.ReadFrame(br)
			if err != nil || f.Header.OpCode == ws.OpClose {
				return
			}
			if !f.Header.Masked {
				return // weir must mask toward the backend
			}
			f = ws.UnmaskFrameInPlace(f)
			_ = writeServerFrame(c, f.Header.OpCode, f.Header.Fin, f.Payload)
		}
	})
	h := startGatewayWith(t, routeTo(be.addr(), "    filters: [{native: fixed, directions: client_to_backend}]\n"), false, fixed)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws")
	for _, in := range [][]byte{nil, []byte("small"), bytes.Repeat([]byte{7}, 20<<10)} {
		rc.frame(ws.OpBinary, true, in)
		op, got := rc.readMessage()
		if op != ws.OpBinary || !bytes.Equal(got, want) {
			t.Fatalf("input of %d bytes: got op %v, %d bytes, want the filter's %d", len(in), op, len(got), len(want))
		}
		if !bytes.Equal(fixedOutput, want) {
			t.Fatal("weir changed the filter's output buffer")
		}
	}
}

// L-03: clients that trickle their request head, a byte at a time, are cut
// with 408 once the handshake timeout has passed, long before their head
// could complete (the deadline covers the whole head, not each read); a
// healthy client is served meanwhile.
func TestSlowHeaders(t *testing.T) {
	// The timeout leaves a healthy handshake room on a loaded machine and
	// is still a third of the time a slow client needs for its head (about
	// 150 bytes at 25 ms each).
	h := startGateway(t, "server: {handshake_timeout: 1s}\n"+routeTo(startEcho(t), ""), false)
	head := upgradeRequest("/ws")
	if slow := time.Duration(len(head)) * 25 * time.Millisecond; slow < 3*time.Second {
		t.Fatalf("the head takes %v to trickle, want at least 3s", slow)
	}
	const clients = 20
	type result struct {
		status int
		sent   int
		err    error
	}
	results := make(chan result, clients)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			var sent atomic.Int64
			stop := make(chan struct{})
			writerDone := make(chan struct{})
			go func() { // the slow client: one byte every 25 ms, never the final CRLF
				defer close(writerDone)
				for j := 0; j < len(head)-2; j++ {
					if _, err := c.Write([]byte{head[j]}); err != nil {
						return
					}
					sent.Add(1)
					select {
					case <-stop:
						return
					case <-time.After(25 * time.Millisecond): // the attack's pace, not a wait for weir
					}
				}
			}()
			resp, err := httphead.ReadResponse(bufio.NewReader(c), httphead.Limits{MaxBytes: 64 << 10, MaxHeaders: 100})
			n := int(sent.Load())
			close(stop)
			<-writerDone
			if err != nil {
				results <- result{err: err, sent: n}
				return
			}
			results <- result{status: resp.Status, sent: n}
		}()
	}
	// A well-behaved client is not held up by them.
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws")
	rc.frame(ws.OpText, true, []byte("still here"))
	if _, msg := rc.readMessage(); string(msg) != "still here" {
		t.Fatalf("healthy client got %q", msg)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Fatalf("slow client: %v (after %d bytes)", r.err, r.sent)
		}
		if r.status != 408 {
			t.Fatalf("slow client got %d, want 408", r.status)
		}
		if r.sent >= len(head)-2 {
			t.Fatalf("slow client sent its whole head (%d bytes) before weir answered: the timeout does not cover the head", r.sent)
		}
	}
	if n := h.srv.Metrics().HandshakeRejected.With("408").Load(); n != clients {
		t.Fatalf("weir_handshakes_rejected_total{status=408} = %d, want %d", n, clients)
	}
}

// L-07 (global cap): max_connections counts live sessions as well as
// handshakes. Over it a client gets 503 with Retry-After; the sessions in
// place are unaffected, and a place freed by a closed session is usable
// again.
func TestConnectionLimit(t *testing.T) {
	h := startGateway(t, "server: {max_connections: 2}\n"+routeTo(startEcho(t), ""), false)
	a, b := dialRaw(t, h.addr), dialRaw(t, h.addr)
	a.upgrade("/ws")
	b.upgrade("/ws")
	over := dialRaw(t, h.addr)
	over.send(upgradeRequest("/ws"))
	resp := over.response()
	if resp.Status != 503 || resp.Get("Retry-After") == "" || !httphead.HasToken(resp.Values("Connection"), "close") {
		t.Fatalf("over the cap: %d %+v, want 503 with Retry-After and Connection: close", resp.Status, resp.Headers)
	}
	over.expectEOF()
	for _, rc := range []*rawClient{a, b} {
		rc.frame(ws.OpText, true, []byte("ok"))
		if _, msg := rc.readMessage(); string(msg) != "ok" {
			t.Fatalf("a session in place got %q", msg)
		}
	}
	a.frame(ws.OpClose, true, closePayload(1000, ""))
	a.expectClose()
	a.expectEOF()
	// The place comes back when the session has ended on weir's side too:
	// retry until it has (bounded).
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialRaw(t, h.addr)
		c.send(upgradeRequest("/ws"))
		resp := c.response()
		if resp.Status == 101 {
			break
		}
		if resp.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("after a session ended: %d, want 101", resp.Status)
		}
		c.c.Close()
		time.Sleep(10 * time.Millisecond) // polling for the session's end, bounded by the deadline
	}
}

// The relay counters: every data message and its payload bytes are counted
// once per direction (the frame engine publishes them per write, not per
// frame), in both idle modes.
func TestRelayMetrics(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		h := startGateway(t, routeTo(startEcho(t), ""), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		const n, size = 50, 300
		for i := 0; i < n; i++ {
			rc.frame(ws.OpBinary, true, bytes.Repeat([]byte{byte(i)}, size))
		}
		for i := 0; i < n; i++ {
			if _, msg := rc.readMessage(); len(msg) != size {
				t.Fatalf("echo %d: %d bytes", i, len(msg))
			}
		}
		rc.frame(ws.OpClose, true, closePayload(1000, ""))
		rc.expectClose()
		m := h.srv.Metrics()
		want := map[string]int64{}
		got := map[string]int64{}
		// The last counts are published as the pumps wind down after the
		// close: poll for them (bounded).
		for deadline := time.Now().Add(5 * time.Second); ; {
			for _, dir := range []string{"client_to_backend", "backend_to_client"} {
				want["frames "+dir], want["bytes "+dir] = n, n*size
				got["frames "+dir] = m.FramesRelayed.With(dir).Load()
				got["bytes "+dir] = m.BytesRelayed.With(dir).Load()
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("relay counters %v, want %v", got, want)
			}
			time.Sleep(10 * time.Millisecond) // polling for a condition, bounded by the deadline
		}
	})
}

// Many frames in few reads: whole frames are relayed from the reader's
// buffer (spans) between pings, fragments, cut headers and frames split
// across reads. Every message comes back intact and in order, every ping
// is answered, in both idle modes.
func TestFrameBursts(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		h := startGateway(t, routeTo(startEcho(t), ""), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		rng := mrand.New(mrand.NewPCG(7, 8))
		type message struct {
			op      ws.OpCode
			payload []byte
		}
		var stream bytes.Buffer
		var msgs []message
		pings := map[string]int{}
		frame := func(op ws.OpCode, fin bool, p []byte) {
			_ = ws.WriteFrame(&stream, ws.MaskFrameInPlace(ws.NewFrame(op, fin, append([]byte(nil), p...))))
		}
		for i := 0; i < 300; i++ {
			m := message{op: ws.OpBinary, payload: make([]byte, rng.IntN(3000))}
			if rng.IntN(2) == 0 {
				m.op = ws.OpText
				for j := range m.payload {
					m.payload[j] = "ab€"[rng.IntN(3)]
				}
				m.payload = []byte(strings.ToValidUTF8(string(m.payload), "?"))
			} else {
				rand.Read(m.payload)
			}
			msgs = append(msgs, m)
			rest, op := m.payload, m.op
			for parts := 1 + rng.IntN(3); ; parts-- {
				n := len(rest)
				if parts > 1 && n > 0 {
					n = rng.IntN(n)
				}
				frame(op, n == len(rest), rest[:n])
				if n == len(rest) {
					break
				}
				rest, op = rest[n:], ws.OpContinuation
				if rng.IntN(3) == 0 {
					p := fmt.Sprintf("ping %d/%d", i, parts)
					pings[p]++
					frame(ws.OpPing, true, []byte(p))
				}
			}
		}
		wire := stream.Bytes()
		go func() { // in reads of random size, while the echoes come back
			for len(wire) > 0 {
				n := min(len(wire), 1+rng.IntN(8000))
				if _, err := rc.c.Write(wire[:n]); err != nil {
					return
				}
				wire = wire[n:]
			}
		}()
		for i, want := range msgs {
			var got []byte
			var op ws.OpCode
			for {
				f := rc.readFrame()
				if f.Header.OpCode == ws.OpPong {
					if pings[string(f.Payload)] == 0 {
						t.Fatalf("pong %q for no ping", f.Payload)
					}
					pings[string(f.Payload)]--
					continue
				}
				if f.Header.OpCode != ws.OpContinuation {
					op = f.Header.OpCode
				}
				got = append(got, f.Payload...)
				if f.Header.Fin {
					break
				}
			}
			if op != want.op || !bytes.Equal(got, want.payload) {
				t.Fatalf("message %d: op %v, %d bytes; want op %v, %d bytes", i, op, len(got), want.op, len(want.payload))
			}
		}
		// Pongs for the last pings may trail the last echo.
		rc.frame(ws.OpClose, true, closePayload(1000, ""))
		for {
			f := rc.readFrame()
			if f.Header.OpCode == ws.OpPong {
				pings[string(f.Payload)]--
				continue
			}
			if f.Header.OpCode != ws.OpClose {
				t.Fatalf("frame %v after the last echo", f.Header.OpCode)
			}
			break
		}
		for p, n := range pings {
			if n != 0 {
				t.Fatalf("ping %q: %d more sent than answered", p, n)
			}
		}
	})
}

// maskedFrame is one whole frame as a client writes it.
func maskedFrame(op ws.OpCode, payload string) []byte {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.MaskFrameInPlace(ws.NewFrame(op, true, []byte(payload))))
	return b.Bytes()
}

// A whole frame is relayed at once even when the same read brought the
// start of the next frame's header, or of a control frame's payload: weir
// never holds a frame back while it waits for the rest of the next one.
func TestNoFrameWaitsForTheNext(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		h := startGateway(t, routeTo(startEcho(t), ""), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		for _, cut := range []int{1, 3, 7} { // inside the next header, or in a ping's payload
			a, b := maskedFrame(ws.OpText, "first"), maskedFrame(ws.OpBinary, "second")
			if cut == 7 {
				b = append(maskedFrame(ws.OpPing, "p"), b...)
			}
			rc.send(string(a) + string(b[:cut]))
			if _, msg := rc.readMessage(); string(msg) != "first" {
				t.Fatalf("cut %d: got %q before the rest was sent", cut, msg)
			}
			rc.send(string(b[cut:]))
			if _, msg := rc.readMessage(); string(msg) != "second" {
				t.Fatalf("cut %d: got %q", cut, msg)
			}
		}
	})
}

// A frame cut by a read that came while the pump lingered waits for its rest
// as long as that takes: the linger's read deadline, which stays set between
// batches, must not end the session when the rest comes after it.
func TestCutFrameOutlivesLinger(t *testing.T) {
	h := startGateway(t, routeTo(startEcho(t), ""), false)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws")
	for i := range 6 {
		cut := []int{1, 3, 7}[i%3] // inside the next header, or in a ping's payload
		b := maskedFrame(ws.OpBinary, "second")
		if cut == 7 {
			b = append(maskedFrame(ws.OpPing, "p"), b...)
		}
		// The echo of "warm" comes back while the client's pump lingers
		// for more, so what is sent next reaches it in that linger.
		rc.send(string(maskedFrame(ws.OpText, "warm")))
		if _, msg := rc.readMessage(); string(msg) != "warm" {
			t.Fatalf("round %d: got %q", i, msg)
		}
		rc.send(string(maskedFrame(ws.OpText, "first")) + string(b[:cut]))
		if _, msg := rc.readMessage(); string(msg) != "first" {
			t.Fatalf("round %d: got %q", i, msg)
		}
		time.Sleep(5 * lingerTime)
		rc.send(string(b[cut:]))
		if _, msg := rc.readMessage(); string(msg) != "second" {
			t.Fatalf("round %d (cut %d): got %q after the linger's deadline", i, cut, msg)
		}
	}
}

// A filtered session that goes idle keeps no reassembly buffer, unless a
// message is half-way through: then the start it holds is kept, and the
// message completes intact after the pump parked.
func TestFilteredIdleHoldsNoMessage(t *testing.T) {
	pass := filters.Info{Name: "pass", New: func(json.RawMessage) (filters.Factory, error) { return passFactory{}, nil }}
	h := startGatewayWith(t, routeTo(startEcho(t), "    filters: [{native: pass}]\n"), false, pass)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws")
	big := bytes.Repeat([]byte("x"), 64<<10)
	rc.frame(ws.OpBinary, true, big)
	if _, msg := rc.readMessage(); !bytes.Equal(msg, big) {
		t.Fatalf("echo of %d bytes", len(msg))
	}
	// The pump published its count after startFrames set the session's
	// pumps: reading them after seeing the count is ordered.
	waitFor(t, "the message to be counted", 5*time.Second, func() bool {
		return h.srv.Metrics().FramesRelayed.With("client_to_backend").Load() >= 1
	})
	c2b := h.onlySession(t).c2b
	if !c2b.filtered {
		t.Fatal("the client's pump is not in message mode")
	}
	waitFor(t, "the client's pump to park", 5*time.Second, func() bool { return c2b.parks.Load() >= 1 })
	if c2b.msg != nil {
		t.Fatalf("an idle pump keeps a %d-byte reassembly buffer", cap(c2b.msg))
	}

	// Half a message, then silence: the pump parks holding the start.
	parks := c2b.parks.Load()
	rc.frame(ws.OpText, false, []byte("half "))
	waitFor(t, "the pump to take the first half and park", 5*time.Second, func() bool { return c2b.parks.Load() > parks })
	if !c2b.v.InMessage() || len(c2b.msg) == 0 {
		t.Fatal("the pump parked without the start of the message")
	}
	rc.frame(ws.OpContinuation, true, []byte("and half"))
	if _, msg := rc.readMessage(); string(msg) != "half and half" {
		t.Fatalf("got %q", msg)
	}
}

// Messages sent before a protocol violation, in the same read, still reach
// the backend ahead of the Close: only what follows the fault is dropped.
func TestMessagesBeforeAViolation(t *testing.T) {
	pollModes(t, func(t *testing.T, noPoll bool) {
		be, frames := startRecorder(t)
		h := startGateway(t, routeTo(be.addr(), ""), noPoll)
		rc := dialRaw(t, h.addr)
		rc.upgrade("/ws")
		var wire bytes.Buffer
		for _, m := range []string{"one", "two", "three"} {
			_ = ws.WriteFrame(&wire, ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, true, []byte(m))))
		}
		bad := ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, true, []byte("bad")))
		bad.Header.Rsv = 4 // RSV1 without an extension: 1002
		_ = ws.WriteFrame(&wire, bad)
		_ = ws.WriteFrame(&wire, ws.MaskFrameInPlace(ws.NewFrame(ws.OpText, true, []byte("after"))))
		rc.send(wire.String())
		if code, _ := rc.expectClose(); code != ws.StatusProtocolError {
			t.Fatalf("client got close %d, want 1002", code)
		}
		var got []string
		for f := range frames {
			if f.Header.OpCode == ws.OpClose {
				got = append(got, "close")
				break
			}
			got = append(got, string(f.Payload))
		}
		if strings.Join(got, ",") != "one,two,three,close" {
			t.Fatalf("backend got %v, want the three messages, then the Close", got)
		}
	})
}

// injectFilter answers "ping?" from the client with messages of its own,
// through the session's Sender, and reports what each Send returned.
type injectFilter struct{ errs chan<- error }

func (f injectFilter) OnMessage(_ context.Context, s *filters.Session, m *filters.Message) (filters.Verdict, error) {
	if string(m.Payload) == "ping?" {
		f.errs <- s.Send(filters.BackendToClient, ws.OpText, []byte("pong!"))    // the other way: at once
		f.errs <- s.Send(filters.ClientToBackend, ws.OpBinary, []byte("after"))  // this way: after the message
		f.errs <- s.Send(filters.BackendToClient, ws.OpText, make([]byte, 1025)) // over max_message_bytes
		f.errs <- s.Send(filters.BackendToClient, ws.OpPing, nil)                // not a data message
		// Within the limit alone, but not queued behind pong! while the
		// client's message is open (a message's worth may wait).
		f.errs <- s.Send(filters.BackendToClient, ws.OpBinary, make([]byte, 1020))
	}
	return filters.Continue, nil
}

func (f injectFilter) NewFilter(context.Context, *filters.Session) (filters.Filter, error) {
	return f, nil
}

// A filter's injected messages: toward the client at once, or, when the
// backend is half-way through a fragmented message, right after its last
// fragment (never inside it); toward the backend right after the message
// being filtered. Messages over the route's size limit, more than a
// message's worth waiting behind an open message, and control frames are
// refused with an error, and the session goes on.
func TestFilterInjects(t *testing.T) {
	errs := make(chan error, 8)
	info := filters.Info{Name: "inject", New: func(json.RawMessage) (filters.Factory, error) { return injectFilter{errs}, nil }}
	got := make(chan ws.Frame, 16)
	finish := make(chan struct{})
	be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
		acceptUpgrade(c, req)
		// The first fragment of a message whose end comes only after the
		// client's ping? and weir's injected "after" have arrived.
		_ = writeServerFrame(c, ws.OpText, false, []byte("frag-1 "))
		ended := false
		for {
			f, err := ws.ReadFrame(br)
			if err != nil {
				return
			}
			f = ws.UnmaskFrameInPlace(f)
			got <- f
			if string(f.Payload) == "after" && !ended {
				<-finish
				_ = writeServerFrame(c, ws.OpContinuation, true, []byte("frag-2"))
				ended = true
			}
			if f.Header.OpCode == ws.OpClose {
				_ = writeServerFrame(c, ws.OpClose, true, f.Payload)
				return
			}
		}
	})
	h := startGatewayWith(t, routeTo(be.addr(),
		"    limits: {max_message_bytes: 1KiB}\n    filters: [{native: inject, directions: client_to_backend}]\n"), false, info)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws")
	if f := rc.readFrame(); f.Header.Fin || string(f.Payload) != "frag-1 " {
		t.Fatalf("first frame fin=%v %q, want the open fragment", f.Header.Fin, f.Payload)
	}
	rc.frame(ws.OpText, true, []byte("ping?"))

	// The backend gets the client's message, then the injected one.
	for _, want := range []string{"ping?", "after"} {
		if f := <-got; string(f.Payload) != want {
			t.Fatalf("backend got %q, want %q", f.Payload, want)
		}
	}
	checkErrs := func(want ...bool) {
		t.Helper()
		for i, wantErr := range want {
			if err := <-errs; (err != nil) != wantErr {
				t.Fatalf("Send #%d: %v, want error %v", i+1, err, wantErr)
			}
		}
	}
	checkErrs(false, false, true, true, true)
	// "pong!" waits for the backend's message to end.
	close(finish)
	if f := rc.readFrame(); f.Header.OpCode != ws.OpContinuation || !f.Header.Fin || string(f.Payload) != "frag-2" {
		t.Fatalf("got %v fin=%v %q, want the last fragment before anything injected", f.Header.OpCode, f.Header.Fin, f.Payload)
	}
	if op, msg := rc.readMessage(); op != ws.OpText || string(msg) != "pong!" {
		t.Fatalf("got %v %q, want the injected pong!", op, msg)
	}

	// Outside a fragmented message injected messages go out at once, the
	// large one too.
	rc.frame(ws.OpText, true, []byte("ping?"))
	if op, msg := rc.readMessage(); op != ws.OpText || string(msg) != "pong!" {
		t.Fatalf("got %v %q, want the injected pong!", op, msg)
	}
	if op, msg := rc.readMessage(); op != ws.OpBinary || len(msg) != 1020 {
		t.Fatalf("got %v of %d bytes, want the injected 1020", op, len(msg))
	}
	checkErrs(false, false, true, true, false)
	rc.frame(ws.OpClose, true, closePayload(1000, ""))
	if code, _ := rc.expectClose(); code != ws.StatusNormalClosure {
		t.Fatalf("close %d, want 1000", code)
	}
}

// lineHandler keeps each log line a server writes as its message and
// attributes (the logger's own included), for a test to look up.
type lineHandler struct {
	level slog.Level
	mu    *sync.Mutex
	lines *[]map[string]string
	attrs []slog.Attr
}

func newLineHandler(level slog.Level) *lineHandler {
	return &lineHandler{level: level, mu: new(sync.Mutex), lines: new([]map[string]string)}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	line := map[string]string{"msg": r.Message}
	for _, a := range h.attrs {
		line[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { line[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.lines = append(*h.lines, line)
	return nil
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &h2
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h } // weir logs no groups

// find returns the first line with every key and value of want, or nil.
func (h *lineHandler) find(want map[string]string) map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
next:
	for _, line := range *h.lines {
		for k, v := range want {
			if line[k] != v {
				continue next
			}
		}
		return line
	}
	return nil
}

// At debug level every session logs its opening (with the backend) and
// its end (with the close code), on the session's logger; at the default
// level it logs neither (the lines are built only when wanted).
func TestSessionDebugLog(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			logs := newLineHandler(level)
			backend := startEcho(t)
			base := leakBaseline()
			srv := startServer(t, routeTo(backend, ""), Deps{Logger: slog.New(logs)})
			rc := dialRaw(t, srv.Addr("public").String())
			rc.upgrade("/ws")
			rc.frame(ws.OpClose, true, closePayload(1000, ""))
			rc.expectClose()
			rc.c.Close()
			// Shut down now (the cleanup's second call does nothing), so that
			// the session's last line is written and nothing is left running.
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			base.check(t)
			open := logs.find(map[string]string{"msg": "session open", "route": "ws", "backend": backend})
			closed := logs.find(map[string]string{"msg": "session closed", "route": "ws", "code": "1000"})
			if want := level == slog.LevelDebug; (open != nil) != want || (closed != nil) != want {
				t.Fatalf("at %v: session open logged %v, closed %v; want both %v", level, open, closed, want)
			}
		})
	}
}
