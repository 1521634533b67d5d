package wsproto

import (
	"bufio"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// upgradeHead builds an upgrade request from the RFC 6455 §1.2 example:
// lines replace the defaults with the same name ("-Name" removes the header;
// "+Name: v" adds a line), requestLine overrides the first line.
func upgradeHead(requestLine string, lines ...string) string {
	if requestLine == "" {
		requestLine = "GET /chat HTTP/1.1"
	}
	base := []string{
		"Host: server.example.com",
		"Upgrade: websocket",
		"Connection: Upgrade",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
		"Origin: http://example.com",
		"Sec-WebSocket-Protocol: chat, superchat",
		"Sec-WebSocket-Version: 13",
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "+") {
			base = append(base, l[1:])
			continue
		}
		if strings.HasPrefix(l, "-") {
			for i, b := range base {
				if strings.EqualFold(b[:strings.IndexByte(b, ':')], l[1:]) {
					base = append(base[:i], base[i+1:]...)
					break
				}
			}
			continue
		}
		name := l[:strings.IndexByte(l, ':')+1]
		replaced := false
		for i, b := range base {
			if strings.EqualFold(b[:strings.IndexByte(b, ':')+1], name) {
				base[i] = l
				replaced = true
				break
			}
		}
		if !replaced {
			base = append(base, l)
		}
	}
	return requestLine + "\r\n" + strings.Join(base, "\r\n") + "\r\n\r\n"
}

func parse(t testing.TB, head string) *httphead.Request {
	t.Helper()
	r, err := httphead.ReadRequest(bufio.NewReaderSize(strings.NewReader(head), 1<<20), httphead.Limits{MaxBytes: 1 << 20, MaxHeaders: 100})
	if err != nil {
		t.Fatalf(
			"ReadRequest: %v",
			err)
	}
	return r
}

func handshakeStatus(err error) (int, []httphead.Header) {
	var he *HandshakeError
	if errors.As(err, &he) {
		return he.Status, he.Header
	}
	return 0, nil
}

func TestComputeAcceptH01(t *testing.T) {
	// RFC 6455 §1.3 and §4.2.2, the worked example.
	if got := ComputeAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf(
			"ComputeAccept = %q",
			got)
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		k := NewKey()
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != 16 || !validKey(k) || seen[k] {
			t.Fatalf(
				"NewKey = %q",
				k)
		}
		seen[k] = true
	}
}

func TestCheckRequest(t *testing.T) {
	many := func(n int) string {
		ts := make([]string, n)
		for i := range ts {
			ts[i] = "p" + itoa(i)
		}
		return strings.Join(ts, ", ")
	}
	manyExt := func(n int) string {
		ts := make([]string, n)
		for i := range ts {
			ts[i] = "x-e" + itoa(i)
		}
		return strings.Join(ts, ", ")
	}
	cases := []struct {
		name   string
		line   string
		lines  []string
		status int // 0: accepted
	}{
		{name: "H-01 RFC example"},
		{name: "H-01 header case", lines: []string{"upgrade: WebSocket", "CONNECTION: upgrade", "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==", "SEC-WEBSOCKET-VERSION: 13"}},
		{name: "H-01 Connection: keep-alive, Upgrade", lines: []string{"Connection: keep-alive, Upgrade"}},
		{name: "H-01 Connection on two lines", lines: []string{"Connection: keep-alive", "+Connection: Upgrade"}},
		{name: "H-01 Content-Length: 0", lines: []string{"+Content-Length: 0"}},
		{name: "H-01 no Origin", lines: []string{"-Origin"}},
		{name: "H-01 no subprotocol", lines: []string{"-Sec-WebSocket-Protocol"}},
		{name: "host with port", lines: []string{"Host: server.example.com:8443"}},
		{name: "IPv6 host", lines: []string{"Host: [::1]:8080"}},

		{name: "H-02 version 8", lines: []string{"Sec-WebSocket-Version: 8"}, status: 426},
		{name: "H-02 version 14", lines: []string{"Sec-WebSocket-Version: 14"}, status: 426},
		{name: "H-02 version 13, 8", lines: []string{"Sec-WebSocket-Version: 13, 8"}, status: 426},
		{name: "H-02 version empty", lines: []string{"Sec-WebSocket-Version: "}, status: 426},
		{name: "H-02 version missing", lines: []string{"-Sec-WebSocket-Version"}, status: 400},
		{name: "H-02 version twice", lines: []string{"+Sec-WebSocket-Version: 13"}, status: 400},

		{name: "H-03 key missing", lines: []string{"-Sec-WebSocket-Key"}, status: 400},
		{name: "H-03 key not base64", lines: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ!!"}, status: 400},
		{name: "H-03 key of 15 bytes", lines: []string{"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 15))}, status: 400},
		{name: "H-03 key of 17 bytes", lines: []string{"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 17))}, status: 400},
		{name: "H-03 key with non-zero padding bits", lines: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR=="}, status: 400},
		{name: "H-03 key unpadded", lines: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"}, status: 400},
		{name: "H-03 two keys", lines: []string{"+Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, status: 400},
		{name: "H-03 POST", line: "POST /chat HTTP/1.1", status: 400},
		{name: "H-03 PUT", line: "PUT /chat HTTP/1.1", status: 400},
		{name: "H-03 lower-case get", line: "get /chat HTTP/1.1", status: 400},
		{name: "H-03 HTTP/1.0", line: "GET /chat HTTP/1.0", status: 400},

		{name: "H-04 Upgrade without Connection token", lines: []string{"Connection: keep-alive"}, status: 400},
		{name: "H-04 no Connection", lines: []string{"-Connection"}, status: 400},
		{name: "H-04 Connection: Upgrade without Upgrade", lines: []string{"-Upgrade"}, status: 400},
		{name: "H-04 Upgrade: websocket, h2c", lines: []string{"Upgrade: websocket, h2c"}, status: 400},
		{name: "H-04 Upgrade empty", lines: []string{"Upgrade: "}, status: 400},
		{name: "H-04 Upgrade twice", lines: []string{"+Upgrade: websocket"}, status: 400},
		{name: "H-04 Upgrade: websocket/13", lines: []string{"Upgrade: websocket/13"}, status: 400},
		{name: "H-04 malformed Connection", lines: []string{"Connection: Upgrade, a b"}, status: 400},

		{name: "Host missing", lines: []string{"-Host"}, status: 400},
		{name: "Host twice", lines: []string{"+Host: other.example.com"}, status: 400},
		{name: "Host empty", lines: []string{"Host: "}, status: 400},
		{name: "Host with userinfo", lines: []string{"Host: user@server.example.com"}, status: 400},
		{name: "Host with path", lines: []string{"Host: server.example.com/x"}, status: 400},
		{name: "Host with space", lines: []string{"Host: a b"}, status: 400},
		{name: "two Origins", lines: []string{"+Origin: https://evil.example"}, status: 400},

		{name: "H-07 permessage-deflate offer", lines: []string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=7"}},
		{name: "H-07 duplicated params are syntax-valid", lines: []string{"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_no_context_takeover"}},
		{name: "H-07 unknown x-foo", lines: []string{"Sec-WebSocket-Extensions: x-foo"}},
		{name: "H-07 quoted value", lines: []string{`Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits="10", x-foo ; a = b`}},
		{name: "H-07 malformed: empty", lines: []string{"Sec-WebSocket-Extensions: "}, status: 400},
		{name: "H-07 malformed: leading semicolon", lines: []string{"Sec-WebSocket-Extensions: ; a"}, status: 400},
		{name: "H-07 malformed: empty param", lines: []string{"Sec-WebSocket-Extensions: a;"}, status: 400},
		{name: "H-07 malformed: empty value", lines: []string{"Sec-WebSocket-Extensions: a; b="}, status: 400},
		{name: "H-07 malformed: quoted non-token", lines: []string{`Sec-WebSocket-Extensions: a; b="x y"`}, status: 400},
		{name: "H-07 malformed: empty quoted", lines: []string{`Sec-WebSocket-Extensions: a; b=""`}, status: 400},
		{name: "H-07 malformed: unterminated quote", lines: []string{`Sec-WebSocket-Extensions: a; b="x`}, status: 400},
		{name: "H-07 malformed: separator in name", lines: []string{"Sec-WebSocket-Extensions: a/b"}, status: 400},
		{name: "H-07 malformed: junk after value", lines: []string{"Sec-WebSocket-Extensions: a; b=c d"}, status: 400},
		{name: "L-08 32 extension offers", lines: []string{"Sec-WebSocket-Extensions: " + manyExt(32)}},
		{name: "L-08 33 extension offers", lines: []string{"Sec-WebSocket-Extensions: " + manyExt(33)}, status: 400},

		{name: "L-08 64 subprotocols", lines: []string{"Sec-WebSocket-Protocol: " + many(64)}},
		{name: "L-08 65 subprotocols", lines: []string{"Sec-WebSocket-Protocol: " + many(65)}, status: 400},
		{name: "L-08 10000 subprotocols", lines: []string{"Sec-WebSocket-Protocol: " + many(10000)}, status: 400},
		{name: "L-08 subprotocols over two lines", lines: []string{"Sec-WebSocket-Protocol: " + many(40), "+Sec-WebSocket-Protocol: " + many(40)}, status: 400},
		{name: "malformed subprotocol", lines: []string{"Sec-WebSocket-Protocol: chat v2"}, status: 400},
		{name: "empty subprotocol header", lines: []string{"Sec-WebSocket-Protocol: "}, status: 400},
		{name: "subprotocol list with empty elements", lines: []string{"Sec-WebSocket-Protocol: chat, , superchat"}},

		{name: "S-03 h2c upgrade", lines: []string{"Upgrade: h2c", "+HTTP2-Settings: AAMAAABkAAQAAP__", "Connection: Upgrade, HTTP2-Settings"}, status: 400},
		{name: "S-03 HTTP2-Settings on a websocket upgrade", lines: []string{"+HTTP2-Settings: AAMAAABkAAQAAP__", "Connection: Upgrade, HTTP2-Settings"}, status: 400},
		{name: "S-04 Content-Length: 48", lines: []string{"+Content-Length: 48"}, status: 400},
		{name: "S-04 Content-Length: 00", lines: []string{"+Content-Length: 00"}, status: 400},
		{name: "S-04 Content-Length 0 and 48", lines: []string{"+Content-Length: 0", "+Content-Length: 48"}, status: 400},
		{name: "S-04 Transfer-Encoding: chunked", lines: []string{"+Transfer-Encoding: chunked"}, status: 400},
		{name: "S-04 Transfer-Encoding: identity", lines: []string{"+Transfer-Encoding: identity"}, status: 400},
		{name: "S-07 Connection nominates identity headers", lines: []string{"Connection: Upgrade, X-Forwarded-For, X-Gateway-User, Authorization, Forwarded"}},
		{name: "S-07 Connection: Content-Length", lines: []string{"Connection: Upgrade, Content-Length"}, status: 400},
		{name: "S-07 Connection: Transfer-Encoding", lines: []string{"Connection: Upgrade, transfer-encoding"}, status: 400},
		{name: "S-07 Connection: Host", lines: []string{"Connection: Upgrade, HOST"}, status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := parse(t, upgradeHead(tc.line, tc.lines...))
			u, err := CheckRequest(r)
			got, hdr := handshakeStatus(err)
			if got != tc.status || (tc.status == 0 && err != nil) {
				t.Fatalf(
					"status %d (%v), want %d",
					got, err, tc.status)
			}
			if tc.status == 426 && (len(hdr) != 1 || hdr[0].Name != "Sec-WebSocket-Version" || hdr[0].Value != "13") {
				t.Fatalf(
					"426 header = %v",
					hdr)
			}
			if tc.status == 0 && (u == nil || u.Key != r.Get("Sec-WebSocket-Key") || u.Version != "13") {
				t.Fatalf(
					"upgrade = %+v",
					u)
			}
		})
	}
}

func TestCheckRequestRecords(t *testing.T) {
	r := parse(t, upgradeHead("", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo;a=\"b\"", "+Sec-WebSocket-Protocol: third"))
	u, err := CheckRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "server.example.com" || u.Origin != "http://example.com" || u.Key != "dGhlIHNhbXBsZSBub25jZQ==" {
		t.Fatalf(
			"upgrade = %+v",
			u)
	}
	if strings.Join(u.Protocols, "|") != "chat|superchat|third" {
		t.Fatalf(
			"protocols = %q",
			u.Protocols)
	}
	if strings.Join(u.Extensions, "|") != `permessage-deflate; client_max_window_bits|x-foo;a="b"` {
		t.Fatalf(
			"extensions = %q",
			u.Extensions)
	}
	if ExtensionName(u.Extensions[0]) != "permessage-deflate" || ExtensionName(u.Extensions[1]) != "x-foo" {
		t.Fatal("ExtensionName")
	}
	r = parse(t, upgradeHead("", "-Origin"))
	if u, err := CheckRequest(r); err != nil || u.Origin != "" {
		t.Fatalf(
			"missing Origin: %+v, %v",
			u, err)
	}
}

func TestIsUpgradeAttempt(t *testing.T) {
	cases := []struct {
		name string
		head string
		want bool
	}{
		{name: "H-01 upgrade", head: upgradeHead(""), want: true},
		{name: "H-04 Upgrade only", head: "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", want: true},
		{name: "H-04 Connection: Upgrade only", head: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\n\r\n", want: true},
		{name: "S-03 h2c", head: "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n", want: true},
		{name: "plain", head: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsUpgradeAttempt(parse(t, tc.head)); got != tc.want {
				t.Fatalf(
					"= %v",
					got)
			}
		})
	}
}

func TestHandshakeErrorAs(t *testing.T) {
	_, err := CheckRequest(parse(t, upgradeHead("", "Sec-WebSocket-Version: 8")))
	var v HandshakeError
	var p *HandshakeError
	if !errors.As(err, &v) || !errors.As(err, &p) || v.Status != 426 || p.Status != 426 {
		t.Fatalf(
			"errors.As on %v",
			err)
	}
}
