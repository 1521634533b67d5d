package wsproto

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// ParseClose reads a Close frame's payload (unmasked, whole: it is at most
// 125 bytes). An empty payload is (1005, nil, nil): no status was given. A
// 1-byte payload or a code that may not be sent (ValidCloseCode) is a
// ProtocolError 1002; a reason that is not valid UTF-8 is a ProtocolError
// 1007 (RFC 6455 §5.5.1, §7.4; SECURITY-CASES F-06). reason aliases p.
func ParseClose(p []byte) (code ws.StatusCode, reason []byte, err error) {
	switch len(p) {
	case 0:
		return ws.StatusNoStatusRcvd, nil, nil
	case 1:
		return 0, nil, ProtocolError{Code: ws.StatusProtocolError, Reason: "close payload of one byte"}
	}
	code = ws.StatusCode(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return 0, nil, ProtocolError{Code: ws.StatusProtocolError, Reason: "close code that may not be sent"}
	}
	reason = p[2:]
	if !utf8.Valid(reason) {
		return 0, nil, ProtocolError{Code: ws.StatusInvalidFramePayloadData, Reason: "close reason is not valid UTF-8"}
	}
	return code, reason, nil
}

// ValidCloseCode reports whether code may appear in a Close frame: 1000–1003,
// 1007–1014 (1012 service restart, 1013 try again later and 1014 bad gateway
// are registered with IANA), and 3000–4999. 0–999, 1004, 1005, 1006, 1015,
// the unassigned 1016–2999 and 5000 and above may not.
func ValidCloseCode(code ws.StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// validPrefix returns the length of the longest prefix of s that is valid
// UTF-8 and at most max bytes long.
func validPrefix(s string, max int) int {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if (r == utf8.RuneError && size == 1) || n+size > max {
			break
		}
		n += size
	}
	return n
}
