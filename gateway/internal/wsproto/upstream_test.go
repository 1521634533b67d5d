package wsproto

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

const weirKey = "x3JJHMbDL1EzLkh9GBhXDw=="

// upstream runs head through CheckRequest and AppendUpstreamRequest and
// reads the result back as the backend would.
func upstream(t *testing.T, head string, o UpstreamOptions) *httphead.Request {
	t.Helper()
	r := parse(t, head)
	u, err := CheckRequest(r)
	if err != nil {
		t.Fatalf(
			"CheckRequest: %v",
			err)
	}
	if o.Key == "" {
		o.Key = weirKey
	}
	return readBack(t, AppendUpstreamRequest(nil, r, u, o))
}

func readBack(t *testing.T, b []byte) *httphead.Request {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	out, err := httphead.ReadRequest(br, httphead.Limits{MaxBytes: 64 << 10, MaxHeaders: 100})
	if err != nil {
		t.Fatalf(
			"backend cannot read %q: %v",
			b, err)
	}
	if br.Buffered() != 0 {
		t.Fatalf(
			"bytes after the head: %q",
			b)
	}
	return out
}

func wantHeader(t *testing.T, r *httphead.Request, name string, values ...string) {
	t.Helper()
	got := r.Values(name)
	if strings.Join(got, "\n") != strings.Join(values, "\n") {
		t.Fatalf(
			"%s = %q, want %q",
			name, got, values)
	}
}

func TestAppendUpstreamRequest(t *testing.T) {
	client := netip.MustParseAddr("203.0.113.7")
	t.Run("H-01 re-originated", func(t *testing.T) {
		r := upstream(t, upgradeHead("GET /chat?x=1 HTTP/1.1",
			"Connection: keep-alive, Upgrade", "+Cookie: a=b", "+Authorization: Bearer t",
			"+Keep-Alive: timeout=5", "+TE: trailers", "+Proxy-Authorization: Basic eA==",
			"+Sec-WebSocket-Extensions: permessage-deflate", "+Content-Length: 0"),
			UpstreamOptions{ClientIP: client, Proto: "https"})
		if r.Method != "GET" || r.Target != "/chat?x=1" || r.Proto != "HTTP/1.1" {
			t.Fatalf(
				"request line %s %s %s",
				r.Method, r.Target, r.Proto)
		}
		if r.Headers[0].Name != "Host" {
			t.Fatalf(
				"first header %q",
				r.Headers[0].Name)
		}
		wantHeader(t, r, "Host", "server.example.com")
		wantHeader(t, r, "Upgrade", "websocket")
		wantHeader(t, r, "Connection", "Upgrade")
		wantHeader(t, r, "Sec-WebSocket-Key", weirKey)
		wantHeader(t, r, "Sec-WebSocket-Version", "13")
		wantHeader(t, r, "Sec-WebSocket-Protocol", "chat, superchat")
		wantHeader(t, r, "Sec-WebSocket-Extensions")
		wantHeader(t, r, "Origin", "http://example.com")
		wantHeader(t, r, "Cookie", "a=b")
		wantHeader(t, r, "Authorization", "Bearer t")
		wantHeader(t, r, "Keep-Alive")
		wantHeader(t, r, "TE")
		wantHeader(t, r, "Proxy-Authorization")
		wantHeader(t, r, "Content-Length")
		wantHeader(t, r, "X-Forwarded-For", "203.0.113.7")
		wantHeader(t, r, "X-Forwarded-Proto", "https")
		wantHeader(t, r, "X-Forwarded-Host", "server.example.com")
		wantHeader(t, r, "Forwarded", "for=203.0.113.7;proto=https;host=server.example.com")
		if u, err := CheckRequest(r); err != nil || u.Key != weirKey {
			t.Fatalf(
				"the backend's view is not a valid upgrade: %v",
				err)
		}
	})
	t.Run("S-07 Connection cannot delete weir's headers", func(t *testing.T) {
		r := upstream(t, upgradeHead("",
			"Connection: Upgrade, X-Forwarded-For, X-Gateway-User, Authorization, Forwarded",
			"+X-Forwarded-For: 1.2.3.4", "+X-Gateway-User: admin", "+Authorization: Bearer t", "+Forwarded: for=1.2.3.4"),
			UpstreamOptions{ClientIP: client, Proto: "http", TrustForwarded: true})
		wantHeader(t, r, "X-Gateway-User")
		wantHeader(t, r, "Authorization")
		wantHeader(t, r, "X-Forwarded-For", "203.0.113.7")
		wantHeader(t, r, "Forwarded", "for=203.0.113.7;proto=http;host=server.example.com")
	})
	t.Run("B-03 untrusted peer: forwarding headers replaced", func(t *testing.T) {
		r := upstream(t, upgradeHead("",
			"+X-Forwarded-For: 1.2.3.4", "+X-Forwarded-For: 5.6.7.8", "+X-Real-IP: 1.2.3.4",
			"+Forwarded: for=1.2.3.4", "+X-Forwarded-Proto: https", "+X-Forwarded-Host: evil.example"),
			UpstreamOptions{ClientIP: client, Proto: "http"})
		wantHeader(t, r, "X-Forwarded-For", "203.0.113.7")
		wantHeader(t, r, "X-Real-IP")
		wantHeader(t, r, "X-Forwarded-Proto", "http")
		wantHeader(t, r, "X-Forwarded-Host", "server.example.com")
		wantHeader(t, r, "Forwarded", "for=203.0.113.7;proto=http;host=server.example.com")
	})
	t.Run("B-03 trusted proxy: appended", func(t *testing.T) {
		r := upstream(t, upgradeHead("",
			"+X-Forwarded-For: 1.2.3.4", "+X-Forwarded-For: 5.6.7.8, 9.9.9.9", "+X-Real-IP: 1.2.3.4",
			"+Forwarded: for=1.2.3.4;proto=https", "+X-Forwarded-Proto: https", "+X-Forwarded-Host: chat.example.com"),
			UpstreamOptions{ClientIP: client, Proto: "http", TrustForwarded: true})
		wantHeader(t, r, "X-Forwarded-For", "1.2.3.4, 5.6.7.8, 9.9.9.9, 203.0.113.7")
		wantHeader(t, r, "X-Real-IP", "1.2.3.4")
		wantHeader(t, r, "X-Forwarded-Proto", "https")
		wantHeader(t, r, "X-Forwarded-Host", "chat.example.com")
		wantHeader(t, r, "Forwarded", "for=1.2.3.4;proto=https, for=203.0.113.7;proto=http;host=server.example.com")
	})
	t.Run("IPv6, mapped IPv4, zones and a port in Host", func(t *testing.T) {
		r := upstream(t, upgradeHead("", "Host: server.example.com:8443"), UpstreamOptions{ClientIP: netip.MustParseAddr("2001:db8::1%eth0")})
		wantHeader(t, r, "X-Forwarded-For", "2001:db8::1")
		wantHeader(t, r, "Forwarded", `for="[2001:db8::1]";proto=http;host="server.example.com:8443"`)
		r = upstream(t, upgradeHead(""), UpstreamOptions{ClientIP: netip.MustParseAddr("::ffff:192.0.2.1")})
		wantHeader(t, r, "X-Forwarded-For", "192.0.2.1")
		r = upstream(t, upgradeHead(""), UpstreamOptions{})
		wantHeader(t, r, "X-Forwarded-For")
		wantHeader(t, r, "Forwarded", "for=unknown;proto=http;host=server.example.com")
	})
	t.Run("tunnel mode forwards the extension offer", func(t *testing.T) {
		r := upstream(t, upgradeHead("", "+Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
			UpstreamOptions{ClientIP: client, ForwardExtensions: true})
		wantHeader(t, r, "Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	})
	t.Run("options override Host and target, and cannot split the request", func(t *testing.T) {
		r := upstream(t, upgradeHead(""), UpstreamOptions{
			ClientIP: client,
			Host:     "backend.internal:9001\r\nX-Evil: 1",
			Target:   "/ws HTTP/1.1\r\nX-Evil: 2\r\n\r\nGET /admin",
		})
		wantHeader(t, r, "Host", "backend.internal:9001X-Evil:1")
		wantHeader(t, r, "X-Evil")
		if r.Target != "/wsHTTP/1.1X-Evil:2GET/admin" {
			t.Fatalf(
				"target %q",
				r.Target)
		}
		wantHeader(t, r, "X-Forwarded-Host", "server.example.com")
	})
	t.Run("Extra added last, unsafe entries skipped", func(t *testing.T) {
		r := upstream(t, upgradeHead(""), UpstreamOptions{ClientIP: client, Extra: []httphead.Header{
			{Name: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			{Name: "X-Policy", Value: "a\r\nX-Evil: 1"},
			{Name: "Bad Name", Value: "x"},
			{Name: "Host", Value: "evil.example"},
			{Name: "Content-Length", Value: "5"},
			{Name: "Transfer-Encoding", Value: "chunked"},
			{Name: "Sec-WebSocket-Key", Value: "dGhlIHNhbXBsZSBub25jZQ=="},
		}})
		last := r.Headers[len(r.Headers)-1]
		if last.Name != "traceparent" {
			t.Fatalf(
				"last header %q",
				last.Name)
		}
		wantHeader(t, r, "X-Policy")
		wantHeader(t, r, "X-Evil")
		wantHeader(t, r, "Host", "server.example.com")
		wantHeader(t, r, "Content-Length")
		wantHeader(t, r, "Transfer-Encoding")
		wantHeader(t, r, "Sec-WebSocket-Key", weirKey)
	})
	t.Run("S-03 hop-by-hop and h2c headers never forwarded", func(t *testing.T) {
		// Built by hand: CheckRequest would refuse it, this proves the
		// writer drops them anyway.
		r := &httphead.Request{Method: "GET", Target: "/", Proto: "HTTP/1.1", Headers: []httphead.Header{
			{Name: "Host", Value: "a"}, {Name: "Upgrade", Value: "h2c"}, {Name: "HTTP2-Settings", Value: "AAMAAABkAAQAAP__"},
			{Name: "Connection", Value: "Upgrade, HTTP2-Settings, X-Hop"}, {Name: "X-Hop", Value: "1"},
			{Name: "Trailer", Value: "x"}, {Name: "Proxy-Connection", Value: "keep-alive"}, {Name: "Transfer-Encoding", Value: "chunked"},
		}}
		out := readBack(t, AppendUpstreamRequest(nil, r, &Upgrade{Host: "a"}, UpstreamOptions{Key: weirKey}))
		for _, n := range []string{"HTTP2-Settings", "X-Hop", "Trailer", "Proxy-Connection", "Transfer-Encoding"} {
			wantHeader(t, out, n)
		}
		wantHeader(t, out, "Upgrade", "websocket")
		wantHeader(t, out, "Connection", "Upgrade")
	})
}
