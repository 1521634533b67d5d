package redact

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// The helpers below read JSON that json.Valid accepted. They stay inside
// their slice whatever the input (the fuzz tests feed them garbage), but
// only give meaningful answers for valid JSON.

// stringEnd returns the index just past the string that starts with the
// quote at p[i], and whether the string holds an escape.
func stringEnd(p []byte, i int) (end int, escaped bool) {
	j := i + 1
	for j < len(p) {
		q := bytes.IndexByte(p[j:], '"')
		if q < 0 {
			break
		}
		b := bytes.IndexByte(p[j:j+q], '\\')
		if b < 0 {
			return j + q + 1, escaped
		}
		escaped = true
		j += b + 2 // the backslash and the byte it escapes
	}
	return len(p), escaped
}

// numberEnd returns the index just past the number that starts at p[i].
func numberEnd(p []byte, i int) int {
	for i < len(p) {
		switch c := p[i]; {
		case '0' <= c && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			i++
		default:
			return i
		}
	}
	return i
}

// nextByte returns the first byte at or after p[i] that is not JSON
// whitespace, or 0 at the end.
func nextByte(p []byte, i int) byte {
	for ; i < len(p); i++ {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return p[i]
		}
	}
	return 0
}

// appendUnquoted appends the text of the JSON string whose contents (between
// the quotes) are s, resolving escapes the way encoding/json does: a
// surrogate that is not half of a pair becomes U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		b := bytes.IndexByte(s[i:], '\\')
		if b < 0 {
			return append(dst, s[i:]...)
		}
		dst = append(dst, s[i:i+b]...)
		i += b
		if i+1 >= len(s) {
			return append(dst, s[i:]...)
		}
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				dst = append(dst, s[i:i+2]...)
				break
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+2 < len(s) && s[i+2] == '\\' && i+3 < len(s) && s[i+3] == 'u' {
					r2, ok = hex4(s, i+4)
				}
				if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, s[i:i+2]...)
		}
		i += 2
	}
	return dst
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendQuoted appends s as a JSON string, quotes included. Bytes that are
// not UTF-8 become \ufffd, so the result is valid UTF-8 and valid JSON
// whatever s holds.
func appendQuoted(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}
