package wsproto

import "github.com/weirproxy/weir/gateway/internal/httphead"

// The grammar of Sec-WebSocket-Extensions (RFC 6455 §9.1), with OWS allowed
// around separators as the #rule of RFC 9110 §5.6.1 does:
//
//	extension-list  = 1#extension
//	extension       = extension-token *( ";" extension-param )
//	extension-token = token
//	extension-param = token [ "=" ( token / quoted-string ) ]
//
// A quoted value must be a token once unescaped (§9.1).

// extScanner walks the extensions of one header value.
type extScanner struct {
	s string
	i int
}

// next returns the next extension offer as it appears (without surrounding
// whitespace), done at the end of the list, or ok false when the list is
// malformed. Every call consumes at least one byte or ends the list, so
// loops over it are bounded by the value's length.
func (sc *extScanner) next() (offer string, done, ok bool) {
	s := sc.s
	i := sc.i
	for {
		i = skipOWS(s, i)
		if i == len(s) {
			sc.i = i
			return "", true, true
		}
		if s[i] != ',' {
			break
		}
		i++ // an empty element (RFC 9110 §5.6.1)
	}
	start := i
	i = skipToken(s, i)
	if i == start {
		return "", false, false
	}
	end := i
	for {
		i = skipOWS(s, i)
		if i == len(s) || s[i] != ';' {
			break
		}
		i = skipOWS(s, i+1)
		p := i
		i = skipToken(s, i)
		if i == p {
			return "", false, false
		}
		end = i
		i = skipOWS(s, i)
		if i < len(s) && s[i] == '=' {
			i = skipOWS(s, i+1)
			if i < len(s) && s[i] == '"' {
				i = skipQuotedToken(s, i)
				if i < 0 {
					return "", false, false
				}
			} else {
				v := i
				i = skipToken(s, i)
				if i == v {
					return "", false, false
				}
			}
			end = i
		}
	}
	switch {
	case i == len(s):
	case s[i] == ',':
		i++
	default:
		return "", false, false
	}
	sc.i = i
	return s[start:end], false, true
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func skipToken(s string, i int) int {
	for i < len(s) && httphead.IsTokenChar(s[i]) {
		i++
	}
	return i
}

// skipQuotedToken skips a quoted-string at s[i] whose unescaped content is a
// non-empty token, returning the index after the closing quote, or -1.
func skipQuotedToken(s string, i int) int {
	i++ // opening quote
	n := 0
	for i < len(s) {
		c := s[i]
		switch c {
		case '"':
			if n == 0 {
				return -1
			}
			return i + 1
		case '\\':
			i++
			if i == len(s) {
				return -1
			}
			c = s[i]
		}
		if !httphead.IsTokenChar(c) {
			return -1
		}
		n++
		i++
	}
	return -1
}

// countExtensions counts the offers in values; ok is false if any value is
// malformed.
func countExtensions(values []string) (n int, ok bool) {
	for _, v := range values {
		sc := extScanner{s: v}
		for {
			_, done, ok := sc.next()
			if !ok {
				return 0, false
			}
			if done {
				break
			}
			n++
		}
	}
	return n, true
}

// appendExtensions appends the offers of values, which countExtensions has
// accepted.
func appendExtensions(dst []string, values []string) []string {
	for _, v := range values {
		sc := extScanner{s: v}
		for {
			offer, done, ok := sc.next()
			if !ok || done {
				break
			}
			dst = append(dst, offer)
		}
	}
	return dst
}

// ExtensionName returns the extension token an offer starts with
// ("permessage-deflate" for "permessage-deflate; client_max_window_bits").
func ExtensionName(offer string) string {
	i := skipOWS(offer, 0)
	return offer[i:skipToken(offer, i)]
}
