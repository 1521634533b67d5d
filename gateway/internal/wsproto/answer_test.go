package wsproto

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// readAnswer reads an answer as a client would, with its body.
func readAnswer(t *testing.T, b []byte) (*httphead.Response, []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	r, err := httphead.ReadResponse(br, httphead.Limits{MaxBytes: 8 << 10, MaxHeaders: 50})
	if err != nil {
		t.Fatalf(
			"client cannot read %q: %v",
			b, err)
	}
	body, _ := io.ReadAll(br)
	return r, body
}

func TestAppendSwitching(t *testing.T) {
	accept := ComputeAccept(weirKey)
	b := AppendSwitching(nil, accept, "chat", "", []httphead.Header{
		{Name: "Set-Cookie", Value: "weir_chat=abc; HttpOnly"},
		{Name: "X-Bad", Value: "a\r\nb"},
		{Name: "Sec-WebSocket-Accept", Value: "forged"},
		{Name: "Connection", Value: "close"},
	})
	r, body := readAnswer(t, b)
	if len(body) != 0 || r.Status != 101 || r.Reason != "Switching Protocols" {
		t.Fatalf(
			"answer %q",
			b)
	}
	acc, err := CheckResponse(r, weirKey, &Upgrade{Protocols: []string{"chat"}}, false)
	if err != nil || acc.Protocol != "chat" {
		t.Fatalf(
			"a client would refuse weir's 101: %v",
			err)
	}
	if r.Get("Set-Cookie") != "weir_chat=abc; HttpOnly" || r.Count("X-Bad") != 0 || r.Count("Connection") != 1 {
		t.Fatalf(
			"headers %q",
			r.Headers)
	}
	// H-01 worked example.
	b = AppendSwitching(nil, ComputeAccept("dGhlIHNhbXBsZSBub25jZQ=="), "", "", nil)
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
	if string(b) != want {
		t.Fatalf(
			"got %q",
			b)
	}
	b = AppendSwitching(nil, accept, "", "permessage-deflate\r\nX: y", nil)
	r, _ = readAnswer(t, b)
	if r.Get("Sec-WebSocket-Extensions") != "permessage-deflateX: y" || r.Count("X") != 0 {
		t.Fatalf(
			"extensions not cleaned: %q",
			b)
	}
}

func TestAppendError(t *testing.T) {
	cases := []struct {
		name   string
		status int
		reason string
		extra  []httphead.Header
		want   int
		body   string
	}{
		{name: "H-03 400", status: 400, reason: "missing Sec-WebSocket-Key", want: 400, body: "missing Sec-WebSocket-Key\n"},
		{name: "H-02 426", status: 426, reason: "", extra: []httphead.Header{{Name: "Sec-WebSocket-Version", Value: "13"}}, want: 426, body: "Upgrade Required\n"},
		{name: "response splitting", status: 403, reason: "denied\r\nSet-Cookie: a=b\r\n\r\n<script>", want: 403, body: "deniedSet-Cookie: a=b<script>\n"},
		{name: "control and C1 characters, invalid UTF-8", status: 400, reason: "a\x00b\x1b[31m\u0085c\xffd\u00e9", want: 400, body: "ab[31mc\ufffdd\u00e9\n"},
		{name: "status out of range", status: 42, reason: "x", want: 500, body: "x\n"},
		{name: "426 naming the protocol", status: 426, reason: "WebSocket only", extra: []httphead.Header{{Name: "Upgrade", Value: "websocket"}, {Name: "Connection", Value: "keep-alive"}}, want: 426, body: "WebSocket only\n"},
		{name: "L-07 429 with Retry-After", status: 429, reason: "slow down", extra: []httphead.Header{{Name: "Retry-After", Value: "1"}}, want: 429, body: "slow down\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendError(nil, tc.status, tc.reason, tc.extra)
			r, body := readAnswer(t, b)
			if r.Status != tc.want || string(body) != tc.body {
				t.Fatalf(
					"got %d %q",
					r.Status, body)
			}
			conn := "close"
			if r.Count("Upgrade") > 0 {
				conn = "upgrade, close"
			}
			if r.Count("Connection") != 1 || r.Get("Connection") != conn || r.Get("Content-Length") != strconv.Itoa(len(body)) || r.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf(
					"headers %q",
					r.Headers)
			}
			for _, h := range tc.extra {
				if h.Name != "Connection" && r.Get(h.Name) != h.Value {
					t.Fatalf(
						"extra %s missing",
						h.Name)
				}
			}
		})
	}
}

func TestAppendResponse(t *testing.T) {
	t.Run("S-01 relay a 403", func(t *testing.T) {
		resp := readResp(t, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nSet-Cookie: a=b\r\n"+
			"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n"+
			"Upgrade: websocket\r\nSec-WebSocket-Accept: x\r\nContent-Length: 99\r\nWWW-Authenticate: Bearer\r\n\r\n")
		b := AppendResponse(nil, resp, []byte(`{"error":"denied"}`))
		r, body := readAnswer(t, b)
		if r.Status != 403 || r.Reason != "Forbidden" || string(body) != `{"error":"denied"}` {
			t.Fatalf(
				"got %q",
				b)
		}
		for _, n := range []string{"X-Hop", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Sec-WebSocket-Accept"} {
			if r.Count(n) != 0 {
				t.Fatalf(
					"%s relayed",
					n)
			}
		}
		if r.Get("Connection") != "close" || r.Count("Connection") != 1 || r.Get("Content-Length") != strconv.Itoa(len(body)) ||
			r.Count("Content-Length") != 1 || r.Get("Set-Cookie") != "a=b" || r.Get("WWW-Authenticate") != "Bearer" {
			t.Fatalf(
				"headers %q",
				r.Headers)
		}
	})
	t.Run("S-01 a 101 is never relayed", func(t *testing.T) {
		r, _ := readAnswer(t, AppendResponse(nil, readResp(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), nil))
		if r.Status != 502 || r.Count("Upgrade") != 0 {
			t.Fatalf(
				"got %d",
				r.Status)
		}
	})
	t.Run("204 has no body", func(t *testing.T) {
		b := AppendResponse(nil, readResp(t, "HTTP/1.1 204 \r\n\r\n"), []byte("ignored"))
		r, body := readAnswer(t, b)
		if r.Status != 204 || r.Reason != "No Content" || len(body) != 0 || r.Count("Content-Length") != 0 {
			t.Fatalf(
				"got %q",
				b)
		}
	})
}
