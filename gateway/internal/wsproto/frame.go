package wsproto

import (
	"bufio"
	"encoding/binary"
	"io"

	"github.com/gobwas/ws"
)

// MaxHeaderSize is the largest frame header: 2 bytes, 8 of length, 4 of mask.
const MaxHeaderSize = ws.MaxHeaderSize

// Role says which end of a connection weir is, which decides masking (RFC
// 6455 §5.1).
type Role uint8

const (
	// ServerSide reads masked frames from a client and writes unmasked
	// ones: weir's client leg.
	ServerSide Role = iota + 1
	// ClientSide reads unmasked frames from a server and writes masked
	// ones: weir's backend leg.
	ClientSide
)

// HeaderLen reports how many bytes the next frame header takes, judging by
// the bytes already buffered in br; ok is false when fewer than 2 are
// buffered. It never reads from the connection, so a caller that must not
// block (a poller's worker) can wait until br.Buffered() >= n.
func HeaderLen(br *bufio.Reader) (n int, ok bool) {
	if br.Buffered() < 2 {
		return 0, false
	}
	p, _ := br.Peek(2)
	n = 2
	switch p[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if p[1]&0x80 != 0 {
		n += 4
	}
	return n, true
}

// ReadHeader reads one frame header from br. scratch must have a capacity of
// at least MaxHeaderSize-2 (12) bytes; it may be used by ws.ReadHeaderBuffer
// and holds nothing afterwards.
//
// A 64-bit length with its most significant bit set, and a length that is
// not in its shortest encoding (126 with a value below 126, 127 with a value
// below 65536), are a ProtocolError 1002 (RFC 6455 §5.2; SECURITY-CASES
// F-07). Nothing is allocated for any length: limits are the Validator's
// job, before any payload byte is read.
//
// I/O errors are returned as they are: io.EOF before the first byte of a
// header, io.ErrUnexpectedEOF inside one, and the connection's own errors
// (timeouts) unchanged.
//
// A header whole in br's buffer (after at most the read that brings its
// first two bytes) is decoded where it lies (DecodeHeader); only one cut by
// a read goes through ws.ReadHeaderBuffer, whose two io.ReadFull calls copy
// it out of the reader first. scratch is used on that path only.
func ReadHeader(br *bufio.Reader, scratch []byte) (ws.Header, error) {
	p, err := br.Peek(2)
	if err != nil {
		if err == io.EOF && len(p) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return ws.Header{}, err
	}
	if n, _ := HeaderLen(br); br.Buffered() >= n {
		b, _ := br.Peek(n)
		h, err := DecodeHeader(b)
		if err != nil {
			return ws.Header{}, err
		}
		_, _ = br.Discard(n)
		return h, nil
	}
	enc := p[1] & 0x7f
	if enc == 127 {
		// Judge the most significant bit before anything is consumed.
		q, err := br.Peek(3)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return ws.Header{}, err
		}
		if q[2]&0x80 != 0 {
			return ws.Header{}, errLengthMSB
		}
	}
	h, err := ws.ReadHeaderBuffer(br, scratch)
	if err != nil {
		switch err {
		case io.EOF:
			// The first two bytes were there: the header was cut.
			return ws.Header{}, io.ErrUnexpectedEOF
		case ws.ErrHeaderLengthMSB:
			return ws.Header{}, errLengthMSB
		}
		return ws.Header{}, err
	}
	switch {
	case enc == 126 && h.Length < 126, enc == 127 && h.Length <= 0xffff:
		return ws.Header{}, errNotShortest
	}
	return h, nil
}

// DecodeHeader decodes the frame header that b holds exactly (b is
// HeaderLen bytes long), with ReadHeader's rules: the same Header as
// ws.ReadHeaderBuffer, and the same ProtocolErrors for a length's most
// significant bit and for a length not in its shortest encoding. A caller
// that has judged the header whole with HeaderLen decodes it with this
// rather than ReadHeader, which would judge it again.
func DecodeHeader(b []byte) (ws.Header, error) {
	h := ws.Header{
		Fin:    b[0]&0x80 != 0,
		Rsv:    (b[0] & 0x70) >> 4,
		OpCode: ws.OpCode(b[0] & 0x0f),
		Masked: b[1]&0x80 != 0,
	}
	rest := b[2:]
	switch enc := b[1] & 0x7f; enc {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if h.Length < 126 {
			return ws.Header{}, errNotShortest
		}
	case 127:
		if rest[0]&0x80 != 0 {
			return ws.Header{}, errLengthMSB
		}
		h.Length = int64(binary.BigEndian.Uint64(rest))
		rest = rest[8:]
		if h.Length <= 0xffff {
			return ws.Header{}, errNotShortest
		}
	default:
		h.Length = int64(enc)
	}
	if h.Masked {
		copy(h.Mask[:], rest)
	}
	return h, nil
}

// Errors of the header decoders, made interface values once so that
// returning them does not copy the struct to the heap each time.
var (
	errLengthMSB   error = ProtocolError{Code: ws.StatusProtocolError, Reason: "64-bit frame length with the most significant bit set"}
	errNotShortest error = ProtocolError{Code: ws.StatusProtocolError, Reason: "frame length not in its shortest encoding"}
)

// AppendHeader appends the encoding of h, with the length in its shortest
// form. h.Length must not be negative (a programming error: it panics).
func AppendHeader(dst []byte, h ws.Header) []byte {
	if h.Length < 0 {
		panic("wsproto: negative frame length")
	}
	b0 := (h.Rsv&0x7)<<4 | byte(h.OpCode)&0xf
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length < 126:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// AppendFrame appends one frame: its header and payload, the payload masked
// with key when mask is set (the copy in dst is masked; payload is not
// touched). It does not allocate when dst has room for MaxHeaderSize +
// len(payload) more bytes.
func AppendFrame(dst []byte, op ws.OpCode, fin bool, payload []byte, mask bool, key [4]byte) []byte {
	dst = AppendHeader(dst, ws.Header{Fin: fin, OpCode: op, Masked: mask, Mask: key, Length: int64(len(payload))})
	start := len(dst)
	dst = append(dst, payload...)
	if mask {
		ws.Cipher(dst[start:], key, 0)
	}
	return dst
}

// MaxCloseReason is the longest close reason: a control frame carries at
// most 125 bytes, two of them the code.
const MaxCloseReason = ws.MaxControlFramePayloadSize - 2

// AppendClose appends a Close frame with code and reason. The reason is cut
// to its longest valid UTF-8 prefix of at most MaxCloseReason bytes, so the
// frame is always valid. Code 1005 ("no status") writes an empty Close; any
// other code that may not be sent (ValidCloseCode) is written as 1011, so
// weir never puts 1006 or 1015 on the wire.
func AppendClose(dst []byte, code ws.StatusCode, reason string, mask bool, key [4]byte) []byte {
	if code == ws.StatusNoStatusRcvd {
		return AppendFrame(dst, ws.OpClose, true, nil, mask, key)
	}
	if !ValidCloseCode(code) {
		code = ws.StatusInternalServerError
	}
	reason = reason[:validPrefix(reason, MaxCloseReason)]
	dst = AppendHeader(dst, ws.Header{Fin: true, OpCode: ws.OpClose, Masked: mask, Mask: key, Length: int64(2 + len(reason))})
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	dst = append(dst, reason...)
	if mask {
		ws.Cipher(dst[start:], key, 0)
	}
	return dst
}
