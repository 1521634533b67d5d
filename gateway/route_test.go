package gateway

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// Routes are tried in order and the first whose listener and match fit
// takes the handshake: host (without port, case-insensitive, "*." for
// subdomains), exact path, path prefix at a segment boundary, headers
// present once with exactly the value (names case-insensitive), and an
// offered subprotocol. Each backend names itself in its first frame, so
// the test sees which route took each handshake; a handshake no route
// takes gets 404 and reaches no backend.
func TestRouteMatching(t *testing.T) {
	named := func(name string) string {
		be := startScripted(t, func(c net.Conn, br *bufio.Reader, req *httphead.Request) {
			acceptUpgrade(c, req)
			_ = writeServerFrame(c, ws.OpText, true, []byte(name))
			// Answer weir's Close (sent when the client hangs up), so
			// that the session ends without waiting out the close timeout.
			for {
				f, err := ws.ReadFrame(br)
				if err != nil {
					return
				}
				if f.Header.OpCode == ws.OpClose {
					_ = writeServerFrame(c, ws.OpClose, true, ws.UnmaskFrameInPlace(f).Payload)
					return
				}
			}
		})
		return be.addr()
	}
	route := func(name, extra string) string {
		return fmt.Sprintf("  - name: %s\n%s    backends: {members: [{address: %q}]}\n", name, extra, named(name))
	}
	h := startGateway(t, "listeners: [{name: public, address: 127.0.0.1:0}, {name: internal, address: 127.0.0.1:0}]\n"+
		"admin: {address: \"\"}\nroutes:\n"+
		route("internal", "    listener: internal\n    match: {path_prefix: /}\n")+
		route("tenant-a", "    match: {path_prefix: /chat, headers: {X-Tenant: a}}\n")+
		route("chat-v2", "    match: {path_prefix: /chat, subprotocols: [chat.v2, chat.v3]}\n")+
		route("wildcard", "    match: {host: \"*.example.com\", path: /exact}\n")+
		route("host", "    match: {host: Api.Example.ORG}\n")+
		route("chat", "    match: {path_prefix: /chat}\n"), false)

	cases := []struct {
		listener, host, path string
		headers              []string
		want                 string // the backend's name, or "404"
	}{
		{"public", "weir.test", "/chat", nil, "chat"},
		{"public", "weir.test", "/chat/room/7", nil, "chat"},
		{"public", "weir.test", "/chatter", nil, "404"},
		{"public", "weir.test", "/other", nil, "404"},
		{"public", "weir.test", "/chat", []string{"X-Tenant: a"}, "tenant-a"},
		{"public", "weir.test", "/chat", []string{"x-tenant: a"}, "tenant-a"},
		{"public", "weir.test", "/chat", []string{"X-Tenant: A"}, "chat"},
		{"public", "weir.test", "/chat", []string{"X-Tenant: b"}, "chat"},
		{"public", "weir.test", "/chat", []string{"X-Tenant: a", "X-Tenant: a"}, "chat"},
		{"public", "weir.test", "/chat", []string{"Sec-WebSocket-Protocol: chat.v1, chat.v3"}, "chat-v2"},
		{"public", "weir.test", "/chat", []string{"Sec-WebSocket-Protocol: chat.v1", "Sec-WebSocket-Protocol: chat.v2"}, "chat-v2"},
		{"public", "weir.test", "/chat", []string{"Sec-WebSocket-Protocol: chat.v1"}, "chat"},
		{"public", "weir.test", "/chat", []string{"X-Tenant: a", "Sec-WebSocket-Protocol: chat.v2"}, "tenant-a"},
		{"public", "a.example.com", "/exact", nil, "wildcard"},
		{"public", "B.a.EXAMPLE.com:8443", "/exact", nil, "wildcard"},
		{"public", "example.com", "/exact", nil, "404"},
		{"public", "evilexample.com", "/exact", nil, "404"},
		{"public", "a.example.com", "/exact/more", nil, "404"},
		{"public", "a.example.com", "/chat", nil, "chat"},
		{"public", "api.example.org", "/anything", nil, "host"},
		{"public", "API.example.org:443", "/", nil, "host"},
		{"public", "api.example.org.evil", "/", nil, "404"},
		{"internal", "weir.test", "/chat", []string{"X-Tenant: a"}, "internal"},
		{"internal", "api.example.org", "/other", nil, "internal"},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s %s%s %v", c.listener, c.host, c.path, c.headers)
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, h.srv.Addr(c.listener).String())
			req := upgradeRequest(c.path, c.headers...)
			rc.send(strings.Replace(req, "Host: weir.test\r\n", "Host: "+c.host+"\r\n", 1))
			resp := rc.response()
			if c.want == "404" {
				if resp.Status != 404 {
					t.Fatalf("status %d, want 404", resp.Status)
				}
				return
			}
			if resp.Status != 101 {
				t.Fatalf("status %d, want 101 from backend %q", resp.Status, c.want)
			}
			if f := rc.readFrame(); string(f.Payload) != c.want {
				t.Fatalf("answered by backend %q, want %q", f.Payload, c.want)
			}
		})
	}
}
