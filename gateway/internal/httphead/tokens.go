package httphead

import "strings"

// tchar (RFC 9110 §5.6.2) as two 64-bit masks over ASCII:
//
//	"!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//	"^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
const (
	tcharLo uint64 = 1<<'!' | 1<<'#' | 1<<'$' | 1<<'%' | 1<<'&' | 1<<'\'' |
		1<<'*' | 1<<'+' | 1<<'-' | 1<<'.' | ((1<<10)-1)<<'0'
	tcharHi uint64 = ((1<<26)-1)<<('A'-64) | 1<<('^'-64) | 1<<('_'-64) |
		1<<('`'-64) | ((1<<26)-1)<<('a'-64) | 1<<('|'-64) | 1<<('~'-64)
)

// IsTokenChar reports whether b may appear in an RFC 9110 token.
func IsTokenChar(b byte) bool {
	if b < 64 {
		return tcharLo&(1<<b) != 0
	}
	if b < 128 {
		return tcharHi&(1<<(b-64)) != 0
	}
	return false
}

// IsToken reports whether s is a non-empty RFC 9110 token.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether s can be written as a field value: no
// control character other than HTAB (so no CR or LF), and no leading or
// trailing whitespace. obs-text (bytes ≥ 0x80) is allowed, as in RFC 9110
// §5.5.
func ValidFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return s == TrimOWS(s)
}

// TrimOWS removes leading and trailing spaces and horizontal tabs.
func TrimOWS(s string) string {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}

// nextElement splits the first element off a comma-separated list. It
// consumes at least one byte of a non-empty list, so loops over it are
// bounded by the list's length.
func nextElement(list string) (elem, rest string) {
	if i := strings.IndexByte(list, ','); i >= 0 {
		return TrimOWS(list[:i]), list[i+1:]
	}
	return TrimOWS(list), ""
}

// HasToken reports whether any comma-separated element of any of values is
// token, compared without regard to ASCII case, whitespace around elements
// ignored. It does not allocate.
func HasToken(values []string, token string) bool {
	for _, v := range values {
		if ContainsToken(v, token) {
			return true
		}
	}
	return false
}

// ContainsToken is HasToken for one field value.
func ContainsToken(list, token string) bool {
	for list != "" {
		var elem string
		elem, list = nextElement(list)
		if EqualFold(elem, token) {
			return true
		}
	}
	return false
}

// Tokens splits comma-separated values into their elements, in order.
// Empty elements are skipped (RFC 9110 §5.6.1); ok is false if any other
// element is not a valid token. The tokens are substrings of values: the
// only allocation is the returned slice, sized exactly.
func Tokens(values []string) (tokens []string, ok bool) {
	n, ok := CountTokens(values)
	if !ok {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	tokens = make([]string, 0, n)
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v = nextElement(v)
			if elem != "" {
				tokens = append(tokens, elem)
			}
		}
	}
	return tokens, true
}

// CountTokens is Tokens without the slice: the number of non-empty elements,
// and whether every one is a token.
func CountTokens(values []string) (n int, ok bool) {
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v = nextElement(v)
			if elem == "" {
				continue
			}
			if !IsToken(elem) {
				return 0, false
			}
			n++
		}
	}
	return n, true
}
