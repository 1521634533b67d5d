package wsproto

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

func readResp(t *testing.T, head string) *httphead.Response {
	t.Helper()
	r, err := httphead.ReadResponse(bufio.NewReader(strings.NewReader(head)), httphead.Limits{MaxBytes: 8 << 10, MaxHeaders: 50})
	if err != nil {
		t.Fatalf(
			"ReadResponse: %v",
			err)
	}
	return r
}

func TestCheckResponse(t *testing.T) {
	accept := ComputeAccept(weirKey)
	offered := &Upgrade{Protocols: []string{"chat", "superchat"}, Extensions: []string{"permessage-deflate; client_max_window_bits", "x-foo"}}
	ok101 := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n"
	cases := []struct {
		name      string
		head      string
		allowExt  bool
		switching bool // want ErrNotSwitching
		bad       bool // want an invalid-101 error
		protocol  string
		exts      string
	}{
		{name: "valid", head: ok101},
		{name: "valid, header case", head: "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: " + accept + "\r\n"},
		{name: "protocol chosen", head: ok101 + "Sec-WebSocket-Protocol: superchat\r\n", protocol: "superchat"},

		{name: "S-01 426", head: "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n", switching: true},
		{name: "S-01 200", head: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", switching: true},
		{name: "S-01 404", head: "HTTP/1.1 404 Not Found\r\n", switching: true},
		{name: "S-01 302", head: "HTTP/1.1 302 Found\r\nLocation: /login\r\n", switching: true},
		{name: "S-01 100", head: "HTTP/1.1 100 Continue\r\n", switching: true},

		{name: "S-02 wrong Accept", head: strings.Replace(ok101, accept, ComputeAccept("dGhlIHNhbXBsZSBub25jZQ=="), 1), bad: true},
		{name: "S-02 missing Accept", head: "HTTP/1.1 101 S\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", bad: true},
		{name: "S-02 duplicate Accept", head: ok101 + "Sec-WebSocket-Accept: " + accept + "\r\n", bad: true},
		{name: "S-02 Upgrade: h2c", head: strings.Replace(ok101, "Upgrade: websocket", "Upgrade: h2c", 1), bad: true},
		{name: "S-02 Upgrade: websocket, h2c", head: strings.Replace(ok101, "Upgrade: websocket", "Upgrade: websocket, h2c", 1), bad: true},
		{name: "S-02 no Upgrade", head: strings.Replace(ok101, "Upgrade: websocket\r\n", "", 1), bad: true},
		{name: "S-02 no Connection: upgrade", head: strings.Replace(ok101, "Connection: Upgrade", "Connection: keep-alive", 1), bad: true},
		{name: "S-02 101 over HTTP/1.0", head: strings.Replace(ok101, "HTTP/1.1", "HTTP/1.0", 1), bad: true},

		{name: "unrequested subprotocol", head: ok101 + "Sec-WebSocket-Protocol: admin\r\n", bad: true},
		{name: "subprotocol in another case", head: ok101 + "Sec-WebSocket-Protocol: Chat\r\n", bad: true},
		{name: "two subprotocols", head: ok101 + "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n", bad: true},
		{name: "subprotocol list", head: ok101 + "Sec-WebSocket-Protocol: chat, superchat\r\n", bad: true},
		{name: "empty subprotocol", head: ok101 + "Sec-WebSocket-Protocol: \r\n", bad: true},

		{name: "H-07 extension while frames are parsed", head: ok101 + "Sec-WebSocket-Extensions: permessage-deflate\r\n", bad: true},
		{name: "H-07 offered extension in tunnel mode", head: ok101 + "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n", allowExt: true, exts: "permessage-deflate; client_max_window_bits=10"},
		{name: "H-07 two offered extensions", head: ok101 + "Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: X-Foo\r\n", allowExt: true, exts: "permessage-deflate, X-Foo"},
		{name: "H-07 unrequested extension", head: ok101 + "Sec-WebSocket-Extensions: x-bar\r\n", allowExt: true, bad: true},
		{name: "H-07 extension twice", head: ok101 + "Sec-WebSocket-Extensions: x-foo, x-foo\r\n", allowExt: true, bad: true},
		{name: "H-07 malformed extension", head: ok101 + "Sec-WebSocket-Extensions: x-foo;\r\n", allowExt: true, bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acc, err := CheckResponse(readResp(t, tc.head+"\r\n"), weirKey, offered, tc.allowExt)
			var ue *UpstreamError
			switch {
			case tc.switching:
				if !errors.Is(err, ErrNotSwitching) || !errors.As(err, &ue) {
					t.Fatalf(
						"err = %v, want ErrNotSwitching",
						err)
				}
			case tc.bad:
				if !errors.As(err, &ue) || errors.Is(err, ErrNotSwitching) {
					t.Fatalf(
						"err = %v, want an invalid 101",
						err)
				}
			default:
				if err != nil {
					t.Fatalf(
						"err = %v",
						err)
				}
				if acc.Protocol != tc.protocol || acc.Extensions != tc.exts {
					t.Fatalf(
						"accepted %+v",
						acc)
				}
			}
		})
	}
	t.Run("nothing offered", func(t *testing.T) {
		_, err := CheckResponse(readResp(t, ok101+"Sec-WebSocket-Protocol: chat\r\n\r\n"), weirKey, nil, true)
		var ue UpstreamError
		if !errors.As(err, &ue) {
			t.Fatalf(
				"err = %v",
				err)
		}
	})
}
