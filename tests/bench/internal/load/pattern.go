package load

import (
	"encoding/binary"
	"math/rand/v2"
)

// pattern builds one session's payloads: a pseudo-random body fixed per
// session, with the message's sequence number stamped at both ends so that
// a lost, repeated or reordered echo never compares equal. The writer and
// the reader of a session each own a pattern made from the same seed.
// Not safe for concurrent use.
type pattern struct {
	buf []byte
}

func newPattern(size int, seed uint64) *pattern {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	return &pattern{buf: buf}
}

// stamp writes seq into the payload and returns it; the slice is valid
// until the next stamp.
func (p *pattern) stamp(seq uint64) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	copy(p.buf, b[:])
	if len(p.buf) > 8 {
		copy(p.buf[max(8, len(p.buf)-8):], b[:])
	}
	return p.buf
}
