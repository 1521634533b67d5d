package meter

import (
	"errors"
	"fmt"
)

// reader decodes the primitive encodings of the WebAssembly binary format
// from a byte slice. It never panics: reading past the end or an over-long
// LEB128 sets err, and every later read returns zero values.
type reader struct {
	b   []byte
	pos int
	err error
}

var errEOF = errors.New("unexpected end of data")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) done() bool { return r.err != nil || r.pos >= len(r.b) }

func (r *reader) remaining() int {
	if r.err != nil {
		return 0
	}
	return len(r.b) - r.pos
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.fail(errEOF)
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.pos {
		r.fail(errEOF)
		return nil
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s
}

// u32 reads an unsigned LEB128 of at most 5 bytes, the last of which may
// carry only 4 value bits. This is the acceptance set of wazero's
// leb128.LoadUint32: both decoders agree on the length of every accepted
// encoding, which is what keeps the rewrite aligned with wazero's reading.
func (r *reader) u32() uint32 {
	var v uint32
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if c < 0x80 {
			if i == 4 && c&0xf0 != 0 {
				r.fail(errors.New("u32 LEB128 overflows"))
				return 0
			}
			return v | uint32(c)<<(7*i)
		}
		v |= uint32(c&0x7f) << (7 * i)
	}
	r.fail(errors.New("u32 LEB128 longer than 5 bytes"))
	return 0
}

// sleb skips a signed LEB128 of at most maxLen bytes and returns its value
// for lengths up to 64 bits. The caller checks the range it needs.
func (r *reader) sleb(maxLen int) int64 {
	var v int64
	var shift uint
	for i := 0; i < maxLen; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c < 0x80 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
	}
	r.fail(fmt.Errorf("signed LEB128 longer than %d bytes", maxLen))
	return 0
}

// name reads a length-prefixed byte string.
func (r *reader) name() string {
	n := r.u32()
	return string(r.bytes(int(n)))
}

// appendU32 appends v as an unsigned LEB128.
func appendU32(dst []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			dst = append(dst, c|0x80)
			continue
		}
		return append(dst, c)
	}
}

// appendS32 appends v as a signed LEB128.
func appendS32(dst []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

// appendName appends a length-prefixed byte string.
func appendName(dst []byte, s string) []byte {
	dst = appendU32(dst, uint32(len(s)))
	return append(dst, s...)
}

// appendSection appends a section with its id and size.
func appendSection(dst []byte, id byte, payload []byte) []byte {
	dst = append(dst, id)
	dst = appendU32(dst, uint32(len(payload)))
	return append(dst, payload...)
}
