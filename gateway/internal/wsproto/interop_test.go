package wsproto

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// serveEcho is a minimal WebSocket server built from this package alone: it
// reads the upgrade, answers it, and echoes every message (reassembled) until
// a Close or a violation, which it answers with the right close code.
func serveEcho(conn net.Conn) error {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 4096)
	req, err := httphead.ReadRequest(br, httphead.Limits{MaxBytes: 8 << 10, MaxHeaders: 50})
	if err != nil {
		return err
	}
	u, err := CheckRequest(req)
	if err != nil {
		var he *HandshakeError
		errors.As(err, &he)
		_, _ = conn.Write(AppendError(nil, he.Status, he.Reason, he.Header))
		return err
	}
	proto := ""
	for _, p := range u.Protocols {
		if p == "chat" {
			proto = p
		}
	}
	if _, err := conn.Write(AppendSwitching(nil, ComputeAccept(u.Key), proto, "", nil)); err != nil {
		return err
	}
	var v Validator
	v.Init(ServerSide, 1<<20, 1<<20)
	var scratch [MaxHeaderSize]byte
	var msg []byte
	var op ws.OpCode
	fail := func(err error) error {
		var pe ProtocolError
		if errors.As(err, &pe) {
			_, _ = conn.Write(AppendClose(nil, pe.Code, pe.Reason, false, [4]byte{}))
		}
		return err
	}
	for {
		h, err := ReadHeader(br, scratch[:])
		if err != nil {
			return fail(err)
		}
		if err := v.CheckHeader(h); err != nil {
			return fail(err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			return err
		}
		ws.Cipher(p, h.Mask, 0)
		if err := v.CheckPayload(h, p); err != nil {
			return fail(err)
		}
		if err := v.EndFrame(h); err != nil {
			return fail(err)
		}
		switch h.OpCode {
		case ws.OpPing:
			_, _ = conn.Write(AppendFrame(nil, ws.OpPong, true, p, false, [4]byte{}))
		case ws.OpPong:
		case ws.OpClose:
			code, reason, err := ParseClose(p)
			if err != nil {
				return fail(err)
			}
			_, err = conn.Write(AppendClose(nil, code, string(reason), false, [4]byte{}))
			return err
		default:
			if h.OpCode != ws.OpContinuation {
				op, msg = h.OpCode, msg[:0]
			}
			msg = append(msg, p...)
			if h.Fin {
				if _, err := conn.Write(AppendFrame(nil, op, true, msg, false, [4]byte{})); err != nil {
					return err
				}
			}
		}
	}
}

func listenEcho(t *testing.T) (addr string, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			ch <- err
			return
		}
		ch <- serveEcho(c)
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), ch
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("server did not finish")
		return nil
	}
}

// TestInteropServer drives this package's server rules with a real client
// from another library (coder/websocket): handshake, messages of every
// length class, a fragmented message, and the close handshake.
func TestInteropServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, done := listenEcho(t)
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/chat", &websocket.DialOptions{
		Subprotocols:    []string{"chat", "superchat"},
		CompressionMode: websocket.CompressionContextTakeover, // offered, and declined by the server
	})
	if err != nil {
		t.Fatalf(
			"Dial: %v",
			err)
	}
	if c.Subprotocol() != "chat" || resp.StatusCode != 101 {
		t.Fatalf(
			"subprotocol %q, status %d",
			c.Subprotocol(), resp.StatusCode)
	}
	c.SetReadLimit(1 << 20)
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 300000} {
		for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
			p := []byte(strings.Repeat("\u00e9\U0001F600a", n/7+1)[:0])
			p = append(p, strings.Repeat("\u00e9\U0001F600a", n/7+1)...)
			if err := c.Write(ctx, typ, p); err != nil {
				t.Fatal(err)
			}
			gotTyp, got, err := c.Read(ctx)
			if err != nil || gotTyp != typ || !bytes.Equal(got, p) {
				t.Fatalf(
					"echo of %d bytes: %v",
					len(p), err)
			}
		}
	}
	// A fragmented text message with a code point cut between fragments.
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"a\xf0", "\x9f\x98", "\x80b"} {
		if _, err := w.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Read(ctx); err != nil || string(got) != "a\U0001F600b" {
		t.Fatalf(
			"fragmented echo %q, %v",
			got, err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf(
			"close handshake: %v",
			err)
	}
	if err := waitDone(t, done); err != nil {
		t.Fatalf(
			"server: %v",
			err)
	}
}

// TestInteropServerInvalidUTF8: a real client's text message with invalid
// UTF-8 is answered with a Close of code 1007 that the client understands.
func TestInteropServerInvalidUTF8(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, done := listenEcho(t)
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("ok \xed\xa0\x80")); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusInvalidFramePayloadData {
		t.Fatalf(
			"read error %v, want close 1007",
			err)
	}
	var pe ProtocolError
	if err := waitDone(t, done); !errors.As(err, &pe) || pe.Code != 1007 {
		t.Fatalf(
			"server: %v",
			err)
	}
}

// TestInteropServerRefusal: a client asking for version 8 gets 426 with
// Sec-WebSocket-Version: 13 (H-02), as a real HTTP client reads it.
func TestInteropServerRefusal(t *testing.T) {
	addr, done := listenEcho(t)
	req, err := http.NewRequest("GET", "http://"+addr+"/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 426 || resp.Header.Get("Sec-WebSocket-Version") != "13" || !resp.Close {
		t.Fatalf(
			"got %d %v",
			resp.StatusCode, resp.Header)
	}
	var he *HandshakeError
	if err := waitDone(t, done); !errors.As(err, &he) || he.Status != 426 {
		t.Fatalf(
			"server: %v",
			err)
	}
}

// TestInteropClient drives this package's client rules (the backend leg)
// against a real server from another library: weir's upgrade request, the
// 101 check, masked frames out, unmasked frames in.
func TestInteropClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"superchat"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// The library checks Origin against Host; the gateway judges Origin
	// itself, so the backend leg here carries none.
	client := parse(t, upgradeHead("", "-Origin", "+Sec-WebSocket-Extensions: permessage-deflate"))
	u, err := CheckRequest(client)
	if err != nil {
		t.Fatal(err)
	}
	key := NewKey()
	if _, err := conn.Write(AppendUpstreamRequest(nil, client, u, UpstreamOptions{Key: key, Host: srv.Listener.Addr().String()})); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := httphead.ReadResponse(br, httphead.Limits{MaxBytes: 8 << 10, MaxHeaders: 50})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := CheckResponse(resp, key, u, false)
	if err != nil || acc.Protocol != "superchat" {
		t.Fatalf(
			"CheckResponse: %+v, %v (status %d)",
			acc, err, resp.Status)
	}

	var masks MaskSource
	var v Validator
	v.Init(ClientSide, 1<<20, 1<<20)
	var scratch [MaxHeaderSize]byte
	for _, n := range []int{0, 125, 126, 70000} {
		p := bytes.Repeat([]byte("x\u00e9"), n/2)
		if _, err := conn.Write(AppendFrame(nil, ws.OpText, true, p, true, masks.Next())); err != nil {
			t.Fatal(err)
		}
		h, err := ReadHeader(br, scratch[:])
		if err != nil {
			t.Fatal(err)
		}
		if err := v.CheckHeader(h); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, h.Length)
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if err := v.CheckPayload(h, got); err != nil {
			t.Fatal(err)
		}
		if err := v.EndFrame(h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf(
				"echo of %d bytes differs",
				len(p))
		}
	}
	if _, err := conn.Write(AppendClose(nil, 1001, "going away", true, masks.Next())); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(br, scratch[:])
	if err != nil || v.CheckHeader(h) != nil || h.OpCode != ws.OpClose {
		t.Fatalf(
			"close answer %+v, %v",
			h, err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	if code, _, err := ParseClose(p); err != nil || code != 1001 {
		t.Fatalf(
			"close answer %d, %v",
			code, err)
	}
}
