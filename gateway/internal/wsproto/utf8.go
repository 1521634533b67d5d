package wsproto

import "unicode/utf8"

// UTF8 validates a stream of bytes as UTF-8 (RFC 3629) as it arrives in
// pieces: a code point may be split anywhere between two Writes. The zero
// value is ready to use; it is 6 bytes and never allocates.
//
// Write fails at the first piece that holds an invalid byte, as soon as the
// byte is seen: a truncated sequence is carried over only while it is still
// a valid prefix (Autobahn 6.x "fail fast").
type UTF8 struct {
	pend [3]byte // an incomplete sequence carried over from the last Write
	n    uint8   // bytes in pend
	need uint8   // length of the sequence pend starts
	bad  bool
}

// Write validates the next piece. It returns false if the stream so far is
// not a prefix of valid UTF-8; every later Write returns false too, until
// Reset.
//
// The bulk of p is checked by utf8.Valid, which skips ASCII 8 bytes at a
// time; only the up to 3 bytes of a sequence cut by a piece boundary are
// handled here.
func (u *UTF8) Write(p []byte) bool {
	if u.bad {
		return false
	}
	if u.n > 0 {
		var seq [4]byte
		copy(seq[:], u.pend[:u.n])
		k := copy(seq[u.n:u.need], p)
		got := int(u.n) + k
		p = p[k:]
		if got < int(u.need) {
			if utf8.FullRune(seq[:got]) { // already not a valid prefix
				u.bad = true
				return false
			}
			copy(u.pend[:], seq[:got])
			u.n = uint8(got)
			return true
		}
		if r, size := utf8.DecodeRune(seq[:got]); r == utf8.RuneError && size < 2 {
			u.bad = true
			return false
		}
		u.n = 0
	}
	cut := tailStart(p)
	if !utf8.Valid(p[:cut]) {
		u.bad = true
		return false
	}
	if tail := p[cut:]; len(tail) > 0 {
		if utf8.FullRune(tail) { // shorter than its lead byte says, yet invalid
			u.bad = true
			return false
		}
		u.n = uint8(copy(u.pend[:], tail))
		u.need = uint8(seqLen(tail[0]))
	}
	return true
}

// Complete reports whether the stream so far is valid UTF-8 that does not
// end inside a code point.
func (u *UTF8) Complete() bool { return !u.bad && u.n == 0 }

// Reset makes u ready for a new stream.
func (u *UTF8) Reset() { *u = UTF8{} }

// seqLen is the length of the sequence a lead byte starts, or 1 for a byte
// that cannot start a multi-byte sequence (ASCII, a continuation byte, or
// one of C0, C1, F5–FF).
func seqLen(b byte) int {
	switch {
	case b >= 0xc2 && b <= 0xdf:
		return 2
	case b >= 0xe0 && b <= 0xef:
		return 3
	case b >= 0xf0 && b <= 0xf4:
		return 4
	}
	return 1
}

// tailStart returns where a multi-byte sequence that p cuts short begins, or
// len(p) when p does not end inside one.
func tailStart(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		b := p[i]
		if b < 0x80 {
			return len(p)
		}
		if b >= 0xc0 {
			if len(p)-i < seqLen(b) {
				return i
			}
			return len(p)
		}
	}
	return len(p)
}
