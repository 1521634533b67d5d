package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

// chunkConn serves in in reads of the given sizes (cycled) and records what
// is written to it.
type chunkConn struct {
	memConn
	in    []byte
	sizes []int
	next  int
	out   bytes.Buffer
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.in), c.sizes[c.next%len(c.sizes)])
	c.next++
	copy(p, c.in[:n])
	c.in = c.in[n:]
	return n, nil
}
func (c *chunkConn) Write(p []byte) (int, error) { return c.out.Write(p) }

// memConn gives an in-memory test connection the net.Conn methods the
// frame engine calls but that mean nothing in memory: addresses,
// deadlines, Close.
type memConn struct{}

func (memConn) Close() error                     { return nil }
func (memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (memConn) SetDeadline(time.Time) error      { return nil }
func (memConn) SetReadDeadline(time.Time) error  { return nil }
func (memConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzSource turns fuzz bytes into choices.
type fuzzSource struct{ b []byte }

func (s *fuzzSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *fuzzSource) bytes(n int) []byte {
	n = min(n, len(s.b))
	v := s.b[:n]
	s.b = s.b[n:]
	return v
}

// FuzzPump drives the client→backend frame engine with frame sequences
// built from the fuzz input (data and control frames, right and wrong
// fragment order, text that may not be UTF-8, sizes around the read
// buffer), delivered in reads of fuzzed sizes, in streaming or message
// mode. Whatever happens, weir must not panic, every frame it writes to the
// backend must be a valid masked frame, the data it relays must be a prefix
// of the data it was sent, all of it when the input was valid to its end,
// and every ping must get its pong.
//
//	go test -run='^$' -fuzz=FuzzPump ./gateway/
func FuzzPump(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(bytes.Repeat([]byte{0x81, 0x10, 'a', 'b'}, 40))
	f.Add(append([]byte{1, 0x02, 0x40, 0x02}, bytes.Repeat([]byte{0xff, 0x83, 0x7f, 0x01}, 200)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &fuzzSource{b: data}
		filtered := src.byte()&1 == 1
		sizes := []int{1 + int(src.byte())*int(src.byte()+1), 1 + int(src.byte()), 1 + int(src.byte())*64}

		// Build the client's frames.
		var wire bytes.Buffer
		var sent []byte // data payloads, in order
		pings := 0
		open, valid := false, true
		for i := 0; i < 64 && len(src.b) > 0; i++ {
			c := src.byte()
			op := []ws.OpCode{ws.OpText, ws.OpBinary, ws.OpContinuation, ws.OpPing, ws.OpPong}[int(c)%5]
			fin := c&0x80 != 0
			n := int(src.byte())
			switch c >> 5 & 3 {
			case 1:
				n *= 16
			case 2:
				n = 32<<10 - 64 + n // around the read buffer's size
			}
			if op.IsControl() {
				n, fin = min(n, 125), true
			}
			payload := make([]byte, n)
			copy(payload, src.bytes(n))
			key := [4]byte{src.byte(), src.byte(), 1, 2}
			fr := ws.NewFrame(op, fin, append([]byte(nil), payload...))
			fr.Header.Masked, fr.Header.Mask = true, key
			ws.Cipher(fr.Payload, key, 0)
			_ = ws.WriteFrame(&wire, fr)
			switch {
			case op == ws.OpPing:
				pings++
			case op.IsControl():
			case (op == ws.OpContinuation) != open:
				valid = false // out of order: weir stops here
			default: // text validity is weir's to judge: only the bytes are compared
				sent = append(sent, payload...)
				open = !fin
			}
			if !valid {
				break
			}
		}

		// One pump, as in the benchmark, over in-memory connections.
		in := &chunkConn{in: wire.Bytes(), sizes: sizes}
		backend := &chunkConn{}
		p, err := newTestPump(in, backend, filtered)
		if err != nil {
			t.Fatal(err)
		}
		// A hang is a failure too (the engine must always make progress).
		errc := make(chan error, 1)
		go func() { errc <- p.serve(false) }()
		select {
		case err = <-errc:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 64<<10)
			t.Fatalf("serve did not return; filtered=%v sizes=%v\n%s", filtered, sizes, buf[:runtimeStack(buf)])
		}
		var pe wsproto.ProtocolError
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &pe) {
			t.Fatalf("serve: %v", err)
		}

		// What reached the backend: valid masked data frames only.
		var got []byte
		br := bufio.NewReader(&backend.out)
		for {
			h, err := ws.ReadHeader(br)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("backend got a bad frame header: %v", err)
			}
			if !h.Masked || h.Rsv != 0 || h.OpCode.IsControl() {
				t.Fatalf("backend got %+v", h)
			}
			b := make([]byte, h.Length)
			if _, err := io.ReadFull(br, b); err != nil {
				t.Fatalf("backend got a cut frame: %v", err)
			}
			ws.Cipher(b, h.Mask, 0)
			got = append(got, b...)
		}
		if !bytes.HasPrefix(sent, got) {
			t.Fatalf("relayed %d bytes that are not a prefix of the %d sent", len(got), len(sent))
		}
		if errors.Is(err, io.EOF) && valid && !open && !bytes.Equal(got, sent) {
			t.Fatalf("valid input to its end: relayed %d bytes of %d", len(got), len(sent))
		}
		if errors.Is(err, io.EOF) && valid {
			pongs := 0
			cr := bufio.NewReader(&in.out)
			for {
				h, err := ws.ReadHeader(cr)
				if err != nil {
					break
				}
				if h.OpCode == ws.OpPong {
					pongs++
				}
				_, _ = cr.Discard(int(h.Length))
			}
			if pongs != pings {
				t.Fatalf("%d pings, %d pongs", pings, pongs)
			}
		}
	})
}

func runtimeStack(buf []byte) int { return runtime.Stack(buf, true) }
