package wsproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/gobwas/ws"
)

// testKey is the masking key of frames a test client sends.
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// frame builds one frame as a peer in role would send it to weir: masked
// when weir is the server (ServerSide), unmasked otherwise.
func frame(role Role, op ws.OpCode, fin bool, payload []byte) []byte {
	return AppendFrame(nil, op, fin, payload, role == ServerSide, testKey)
}

// rawFrame builds a frame byte by byte, for headers AppendHeader would never
// write: reserved bits, non-minimal lengths. lenEnc is 0 (shortest), 126 or
// 127; rsv is the three RSV bits (RSV1 = 4).
func rawFrame(b0rsv byte, op ws.OpCode, fin, masked bool, lenEnc int, payload []byte) []byte {
	b0 := b0rsv<<4 | byte(op)
	if fin {
		b0 |= 0x80
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	out := []byte{b0}
	n := len(payload)
	switch {
	case lenEnc == 126 || (lenEnc == 0 && n >= 126 && n <= 0xffff):
		out = append(out, b1|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	case lenEnc == 127 || (lenEnc == 0 && n > 0xffff):
		out = append(out, b1|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	default:
		out = append(out, b1|byte(n))
	}
	p := append([]byte(nil), payload...)
	if masked {
		out = append(out, testKey[:]...)
		ws.Cipher(p, testKey, 0)
	}
	return append(out, p...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// received is what the harness saw before it stopped.
type received struct {
	messages []message
	pongs    int // pings answered
	close    ws.StatusCode
	reason   string
	closed   bool
	code     ws.StatusCode // close code of a ProtocolError, 0 when none
	ioErr    error
}

type message struct {
	op      ws.OpCode
	payload []byte
}

// relay reads raw as the frame engine does: ReadHeader, CheckHeader, the
// payload in pieces of at most chunk bytes (unmasked, CheckPayload),
// EndFrame; it stops at the first error or after a Close.
func relay(role Role, maxFrame, maxMessage int64, raw []byte, chunk int) received {
	var r received
	br := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	var v Validator
	v.Init(role, maxFrame, maxMessage)
	var scratch [MaxHeaderSize]byte
	var msg []byte
	var msgOp ws.OpCode
	buf := make([]byte, chunk)
	fail := func(err error) received {
		var pe ProtocolError
		if errors.As(err, &pe) {
			r.code = pe.Code
		} else {
			r.ioErr = err
		}
		return r
	}
	for {
		h, err := ReadHeader(br, scratch[:])
		if err == io.EOF {
			return r
		}
		if err != nil {
			return fail(err)
		}
		if err := v.CheckHeader(h); err != nil {
			return fail(err)
		}
		var payload []byte
		for off := int64(0); off < h.Length; {
			n := min(int64(chunk), h.Length-off)
			p := buf[:n]
			if _, err := io.ReadFull(br, p); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF // the header promised more
				}
				return fail(err)
			}
			if h.Masked {
				ws.Cipher(p, h.Mask, int(off))
			}
			if err := v.CheckPayload(h, p); err != nil {
				return fail(err)
			}
			payload = append(payload, p...)
			off += n
		}
		if err := v.EndFrame(h); err != nil {
			return fail(err)
		}
		switch h.OpCode {
		case ws.OpPing:
			r.pongs++
		case ws.OpPong:
		case ws.OpClose:
			code, reason, err := ParseClose(payload)
			if err != nil {
				return fail(err)
			}
			r.closed, r.close, r.reason = true, code, string(reason)
			return r
		default:
			if h.OpCode != ws.OpContinuation {
				msgOp = h.OpCode
				msg = msg[:0]
			}
			msg = append(msg, payload...)
			if h.Fin {
				r.messages = append(r.messages, message{op: msgOp, payload: append([]byte(nil), msg...)})
			}
		}
	}
}

func wantMessages(t *testing.T, r received, want ...message) {
	t.Helper()
	if len(r.messages) != len(want) {
		t.Fatalf(
			"got %d messages, want %d (code %d, io %v)",
			len(r.messages), len(want), r.code, r.ioErr)
	}
	for i := range want {
		if r.messages[i].op != want[i].op || !bytes.Equal(r.messages[i].payload, want[i].payload) {
			t.Fatalf(
				"message %d: got op %d, %d bytes; want op %d, %d bytes",
				i, r.messages[i].op, len(r.messages[i].payload), want[i].op, len(want[i].payload))
		}
	}
}
