package echo

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
)

func start(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawClient speaks frames by hand so that tests can send what a normal
// client would not.
type rawClient struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, br, _, err := ws.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if br == nil {
		br = bufio.NewReader(c)
	}
	return &rawClient{c: c, br: br}
}

func (r *rawClient) send(t *testing.T, h ws.Header, p []byte) {
	t.Helper()
	f := ws.Frame{Header: h, Payload: append([]byte(nil), p...)}
	f.Header.Length = int64(len(p))
	if !h.Masked {
		f.Header.Masked = true
		f.Header.Mask = ws.NewMask()
		ws.Cipher(f.Payload, f.Header.Mask, 0)
	}
	if err := ws.WriteFrame(r.c, f); err != nil {
		t.Fatal(err)
	}
}

func (r *rawClient) sendUnmasked(t *testing.T, op ws.OpCode, p []byte) {
	t.Helper()
	if err := ws.WriteFrame(r.c, ws.NewFrame(op, true, p)); err != nil {
		t.Fatal(err)
	}
}

func (r *rawClient) recv(t *testing.T) ws.Frame {
	t.Helper()
	f, err := ws.ReadFrame(r.br)
	if err != nil {
		t.Fatal(err)
	}
	if f.Header.Masked {
		t.Fatal("server frame is masked")
	}
	return f
}

func TestEchoesFrames(t *testing.T) {
	addr := start(t, &Server{})
	for _, tc := range []struct {
		name string
		send []ws.Frame // masked by the client
		want []ws.Frame
	}{
		{"binary", []ws.Frame{ws.NewBinaryFrame([]byte{0, 1, 2})}, []ws.Frame{ws.NewBinaryFrame([]byte{0, 1, 2})}},
		{"text", []ws.Frame{ws.NewTextFrame([]byte("héllo"))}, []ws.Frame{ws.NewTextFrame([]byte("héllo"))}},
		{"empty", []ws.Frame{ws.NewBinaryFrame(nil)}, []ws.Frame{ws.NewBinaryFrame(nil)}},
		{"fragments kept", []ws.Frame{
			ws.NewFrame(ws.OpText, false, []byte("ab")),
			ws.NewPingFrame([]byte("between")),
			ws.NewFrame(ws.OpContinuation, true, []byte("cd")),
		}, []ws.Frame{
			ws.NewFrame(ws.OpText, false, []byte("ab")),
			ws.NewPongFrame([]byte("between")),
			ws.NewFrame(ws.OpContinuation, true, []byte("cd")),
		}},
		{"pong ignored", []ws.Frame{ws.NewPongFrame([]byte("x")), ws.NewBinaryFrame([]byte("y"))},
			[]ws.Frame{ws.NewBinaryFrame([]byte("y"))}},
		{"large", []ws.Frame{ws.NewBinaryFrame(make([]byte, 200<<10))}, []ws.Frame{ws.NewBinaryFrame(make([]byte, 200<<10))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			for _, f := range tc.send {
				r.send(t, f.Header, f.Payload)
			}
			for i, want := range tc.want {
				got := r.recv(t)
				if got.Header.OpCode != want.Header.OpCode || got.Header.Fin != want.Header.Fin ||
					string(got.Payload) != string(want.Payload) {
					t.Fatalf("frame %d = %+v (%d bytes); want %+v (%d bytes)", i,
						got.Header, len(got.Payload), want.Header, len(want.Payload))
				}
			}
		})
	}
}

func TestCloses(t *testing.T) {
	addr := start(t, &Server{MaxFrameBytes: 1000})
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, r *rawClient)
		want ws.StatusCode
	}{
		{"close echoed", func(t *testing.T, r *rawClient) {
			r.send(t, ws.Header{Fin: true, OpCode: ws.OpClose}, ws.NewCloseFrameBody(4000, "done"))
		}, 4000},
		{"unmasked", func(t *testing.T, r *rawClient) { r.sendUnmasked(t, ws.OpBinary, []byte("x")) }, ws.StatusProtocolError},
		{"rsv", func(t *testing.T, r *rawClient) {
			r.send(t, ws.Header{Fin: true, OpCode: ws.OpBinary, Rsv: 4}, []byte("x"))
		}, ws.StatusProtocolError},
		{"reserved opcode", func(t *testing.T, r *rawClient) {
			r.send(t, ws.Header{Fin: true, OpCode: 0xB}, nil)
		}, ws.StatusProtocolError},
		{"big ping", func(t *testing.T, r *rawClient) {
			r.send(t, ws.Header{Fin: true, OpCode: ws.OpPing}, make([]byte, 126))
		}, ws.StatusProtocolError},
		{"lone continuation", func(t *testing.T, r *rawClient) {
			r.send(t, ws.Header{Fin: true, OpCode: ws.OpContinuation}, []byte("x"))
		}, ws.StatusProtocolError},
		{"new message mid-fragment", func(t *testing.T, r *rawClient) {
			r.send(t, ws.Header{OpCode: ws.OpBinary}, []byte("x"))
			if f := r.recv(t); f.Header.OpCode != ws.OpBinary {
				t.Fatalf("first fragment echoed as %v", f.Header.OpCode)
			}
			r.send(t, ws.Header{Fin: true, OpCode: ws.OpBinary}, []byte("y"))
		}, ws.StatusProtocolError},
		{"too big", func(t *testing.T, r *rawClient) {
			r.send(t, ws.Header{Fin: true, OpCode: ws.OpBinary}, make([]byte, 1001))
		}, ws.StatusMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, addr)
			tc.do(t, r)
			f := r.recv(t)
			if f.Header.OpCode != ws.OpClose {
				t.Fatalf("got %v; want Close", f.Header.OpCode)
			}
			if code, _ := ws.ParseCloseFrameData(f.Payload); code != tc.want {
				t.Fatalf("close code %d; want %d", code, tc.want)
			}
			// The server ends the connection after its Close.
			if _, err := ws.ReadFrame(r.br); err == nil {
				t.Fatal("connection still open after Close")
			}
		})
	}
}

// TestInteropClient checks the server against an independent client
// implementation, which validates server frames strictly.
func TestInteropClient(t *testing.T) {
	addr := start(t, &Server{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for _, size := range []int{0, 125, 126, 65536, 500 << 10} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.MessageBinary || string(got) != string(msg) {
			t.Fatalf("size %d: echo differs", size)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestCloseEndsSessions(t *testing.T) {
	s := &Server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	r := dialRaw(t, ln.Addr().String())
	r.send(t, ws.Header{Fin: true, OpCode: ws.OpBinary}, []byte("x"))
	r.recv(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve = %v; want ErrServerClosed", err)
	}
	if _, err := ws.ReadFrame(r.br); err == nil {
		t.Fatal("session still open after Close")
	}
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close = %v", err)
	}
}
