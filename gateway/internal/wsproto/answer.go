package wsproto

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// AppendSwitching appends the 101 answer that completes a client's
// handshake: Upgrade, Connection, Sec-WebSocket-Accept, then
// Sec-WebSocket-Protocol and Sec-WebSocket-Extensions when not empty, then
// extra. Control characters are dropped from protocol and extensions, and
// extra entries with an invalid name or value, or naming a header this
// function writes, are skipped: nothing a backend or a policy returns can
// split the answer.
func AppendSwitching(dst []byte, accept, protocol, extensions string, extra []httphead.Header) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = appendVisible(dst, accept)
	dst = append(dst, "\r\n"...)
	if protocol != "" {
		dst = append(dst, "Sec-WebSocket-Protocol: "...)
		dst = appendVisible(dst, protocol)
		dst = append(dst, "\r\n"...)
	}
	if extensions != "" {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = appendFieldText(dst, extensions)
		dst = append(dst, "\r\n"...)
	}
	dst = appendExtra(dst, extra, isOwnedAnswer)
	return append(dst, "\r\n"...)
}

// appendExtra appends the valid entries of extra that owned does not claim.
func appendExtra(dst []byte, extra []httphead.Header, owned func(string) bool) []byte {
	for _, h := range extra {
		if !httphead.IsToken(h.Name) || !httphead.ValidFieldValue(h.Value) || owned(h.Name) {
			continue
		}
		dst = appendField(dst, h.Name, h.Value)
	}
	return dst
}

// isOwnedError reports whether name is a header AppendError writes itself or
// that must not appear on an error answer.
func isOwnedError(name string) bool {
	return isHopByHop(name) || httphead.EqualFold(name, "Content-Length") ||
		httphead.EqualFold(name, "Content-Type") || httphead.EqualFold(name, "X-Content-Type-Options") ||
		httphead.EqualFold(name, "Sec-WebSocket-Accept")
}

// isOwnedAnswer reports whether name is a header AppendSwitching writes
// itself, or one that AppendResponse must never relay from a backend.
func isOwnedAnswer(name string) bool {
	if isHopByHop(name) || httphead.EqualFold(name, "Content-Length") {
		return true
	}
	const prefix = "Sec-WebSocket-"
	return len(name) >= len(prefix) && httphead.EqualFold(name[:len(prefix)], prefix)
}

// appendFieldText appends s with control characters (other than HTAB)
// dropped and surrounding whitespace removed.
func appendFieldText(dst []byte, s string) []byte {
	s = httphead.TrimOWS(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c >= 0x20 || c == '\t') && c != 0x7f {
			dst = append(dst, c)
		}
	}
	return dst
}

// appendStatusLine appends "HTTP/1.1 status text\r\n" with the standard text.
func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	return append(dst, "\r\n"...)
}

// AppendError appends a complete error answer to a client: the status line
// with the standard text, extra (for example Sec-WebSocket-Version: 13 with
// a 426, or Retry-After; the first valid Upgrade entry is kept and adds the
// upgrade option to Connection; other hop-by-hop and framing entries are
// skipped), Connection: close, a plain-text type, and the body
// "reason\n". The reason is never echoed raw: control characters (C0, DEL,
// C1) are dropped and invalid UTF-8 becomes U+FFFD; an empty reason becomes
// the standard text. A status outside 100–599 is written as 500.
//
// The caller closes the connection after writing it.
func AppendError(dst []byte, status int, reason string, extra []httphead.Header) []byte {
	if status < 100 || status > 599 {
		status = 500
	}
	dst = appendStatusLine(dst, status)
	dst = appendExtra(dst, extra, isOwnedError)
	// An Upgrade header (RFC 9110 §15.5.22: a 426 must name the protocol
	// to switch to) needs the upgrade option in Connection (§7.8).
	upgrade := false
	for _, h := range extra {
		if httphead.EqualFold(h.Name, "Upgrade") {
			if n, ok := httphead.CountTokens([]string{h.Value}); ok && n > 0 {
				dst = appendField(dst, "Upgrade", h.Value)
				upgrade = true
				break
			}
		}
	}
	if upgrade {
		dst = append(dst, "Connection: upgrade, close\r\n"...)
	} else {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: "...)
	// The cleaned length is computed first so the body is written once.
	n := cleanTextLen(reason)
	if n == 0 {
		reason = http.StatusText(status)
		n = cleanTextLen(reason)
	}
	dst = strconv.AppendInt(dst, int64(n+1), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = appendCleanText(dst, reason)
	return append(dst, '\n')
}

// cleanTextLen is the length appendCleanText will write for s.
func cleanTextLen(s string) int {
	n := 0
	for _, r := range s {
		if keepRune(r) {
			n += utf8.RuneLen(r)
		}
	}
	return n
}

// appendCleanText appends s as valid UTF-8 without control characters:
// invalid bytes become U+FFFD, C0 controls (HTAB included), DEL and C1
// controls are dropped.
func appendCleanText(dst []byte, s string) []byte {
	for _, r := range s {
		if keepRune(r) {
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

func keepRune(r rune) bool {
	return r >= 0x20 && (r < 0x7f || r > 0x9f)
}

// AppendResponse appends a backend's non-101 answer for relaying to the
// client (SECURITY-CASES S-01): the status line (the backend's reason with
// control characters dropped, or the standard text), the backend's headers
// without hop-by-hop ones (and those its Connection names), Upgrade,
// Sec-WebSocket-*, Content-Length and Transfer-Encoding, then Connection:
// close, Content-Length and body. body is what the caller read of the
// backend's body, bounded by its own limit.
//
// An informational status (1xx, including 101) is never relayed: a 502 is
// written instead. For 204 and 304 no body and no Content-Length are
// written (RFC 9110 §8.6).
func AppendResponse(dst []byte, resp *httphead.Response, body []byte) []byte {
	if resp.Status < 200 || resp.Status > 599 {
		return AppendError(dst, 502, "", nil)
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(resp.Status), 10)
	dst = append(dst, ' ')
	if reason := httphead.TrimOWS(resp.Reason); reason != "" {
		dst = appendFieldText(dst, reason)
	} else {
		dst = append(dst, http.StatusText(resp.Status)...)
	}
	dst = append(dst, "\r\n"...)
	for _, h := range resp.Headers {
		if isOwnedAnswer(h.Name) || nominated(resp.Headers, h.Name) {
			continue
		}
		dst = appendField(dst, h.Name, h.Value)
	}
	dst = append(dst, "Connection: close\r\n"...)
	if resp.Status == 204 || resp.Status == 304 {
		return append(dst, "\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}
