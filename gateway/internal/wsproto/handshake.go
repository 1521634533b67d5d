package wsproto

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// Limits on what a client may offer (SECURITY-CASES L-08). They bound the
// work and memory a handshake costs beyond the header byte budget.
const (
	MaxOfferedProtocols  = 64
	MaxOfferedExtensions = 32
)

// Version is the only WebSocket version weir speaks (RFC 6455 §4.1).
const Version = "13"

// acceptGUID is the fixed GUID of RFC 6455 §1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Upgrade is what a valid upgrade request offers.
type Upgrade struct {
	// Key is the client's Sec-WebSocket-Key (24 characters of base64 of 16
	// bytes).
	Key string
	// Version is the client's Sec-WebSocket-Version: always "13".
	Version string
	// Host is the client's Host, checked to be a syntactically valid
	// uri-host[:port].
	Host string
	// Origin is the client's Origin, or "" when it sent none.
	Origin string
	// Protocols are the offered subprotocols, in order (at most
	// MaxOfferedProtocols).
	Protocols []string
	// Extensions are the offered extensions as raw offer strings, in order
	// ("permessage-deflate; client_max_window_bits"), each valid by the
	// ABNF of RFC 6455 §9.1 (at most MaxOfferedExtensions). ExtensionName
	// gives an offer's name.
	Extensions []string
}

// IsUpgradeAttempt reports whether r asks for a protocol switch in any way:
// an Upgrade header, or an "upgrade" token in Connection. Such a request is
// either checked as a WebSocket upgrade or served with both headers removed,
// never passed on as plain HTTP by accident (SECURITY-CASES H-04, S-08).
func IsUpgradeAttempt(r *httphead.Request) bool {
	return r.Count("Upgrade") > 0 || httphead.HasToken(r.Values("Connection"), "upgrade")
}

func badRequest(reason string) error {
	return &HandshakeError{Status: 400, Reason: reason}
}

// strictBase64 rejects encodings with non-zero padding bits, so that one key
// has one spelling. It is never modified.
var strictBase64 = base64.StdEncoding.Strict()

// CheckRequest checks a client's upgrade request by RFC 6455 §4.2.1 and
// weir's stricter rules (SECURITY-CASES H-01…H-04, H-07, S-03, S-04, S-07,
// L-08). Any violation is a *HandshakeError: 400, or 426 with
// Sec-WebSocket-Version: 13 for a version weir does not speak. Origin is
// recorded, not judged: the route's allowlist decides.
func CheckRequest(r *httphead.Request) (*Upgrade, error) {
	if r.Method != "GET" {
		return nil, badRequest("upgrade method is not GET")
	}
	if r.Proto != httphead.HTTP11 {
		return nil, badRequest("upgrade is not HTTP/1.1")
	}
	if r.Count("Host") != 1 {
		return nil, badRequest("missing or repeated Host")
	}
	host := r.Get("Host")
	if !validHost(host) {
		return nil, badRequest("malformed Host")
	}

	// Upgrade: exactly the one token "websocket" (RFC 6455 §4.2.1 item 3;
	// "websocket, h2c" is refused, not trimmed: SECURITY-CASES rule 3).
	up := r.Values("Upgrade")
	if n, ok := httphead.CountTokens(up); !ok || n != 1 || !httphead.HasToken(up, "websocket") {
		return nil, badRequest("Upgrade is not exactly websocket")
	}

	conn := r.Values("Connection")
	if _, ok := httphead.CountTokens(conn); !ok {
		return nil, badRequest("malformed Connection")
	}
	if !httphead.HasToken(conn, "upgrade") {
		return nil, badRequest("Connection lacks upgrade")
	}
	// A Connection list may make end-to-end headers hop-by-hop, but never
	// the ones that frame the request or name its authority
	// (SECURITY-CASES rule 4, S-07).
	for _, framing := range [...]string{"content-length", "transfer-encoding", "host"} {
		if httphead.HasToken(conn, framing) {
			return nil, badRequest("Connection nominates a framing header")
		}
	}

	// No body on an upgrade (SECURITY-CASES S-04).
	if r.Count("Transfer-Encoding") > 0 {
		return nil, badRequest("Transfer-Encoding on an upgrade")
	}
	for _, h := range r.Headers {
		if httphead.EqualFold(h.Name, "Content-Length") && h.Value != "0" {
			return nil, badRequest("body on an upgrade")
		}
	}
	if r.Count("HTTP2-Settings") > 0 {
		return nil, badRequest("HTTP2-Settings on a WebSocket upgrade")
	}

	if r.Count("Sec-WebSocket-Key") != 1 {
		return nil, badRequest("missing or repeated Sec-WebSocket-Key")
	}
	key := r.Get("Sec-WebSocket-Key")
	if !validKey(key) {
		return nil, badRequest("Sec-WebSocket-Key is not base64 of 16 bytes")
	}

	if r.Count("Sec-WebSocket-Version") != 1 {
		return nil, badRequest("missing or repeated Sec-WebSocket-Version")
	}
	if r.Get("Sec-WebSocket-Version") != Version {
		return nil, &HandshakeError{
			Status: 426,
			Reason: "unsupported Sec-WebSocket-Version",
			Header: []httphead.Header{{Name: "Sec-WebSocket-Version", Value: Version}},
		}
	}

	// Two Origins would let the gateway judge one and the backend the
	// other.
	if r.Count("Origin") > 1 {
		return nil, badRequest("repeated Origin")
	}

	u := &Upgrade{Key: key, Version: Version, Host: host, Origin: r.Get("Origin")}

	if protos := r.Values("Sec-WebSocket-Protocol"); protos != nil {
		n, ok := httphead.CountTokens(protos)
		switch {
		case !ok || n == 0:
			return nil, badRequest("malformed Sec-WebSocket-Protocol")
		case n > MaxOfferedProtocols:
			return nil, badRequest("too many subprotocols offered")
		}
		u.Protocols, _ = httphead.Tokens(protos)
	}

	if exts := r.Values("Sec-WebSocket-Extensions"); exts != nil {
		n, ok := countExtensions(exts)
		switch {
		case !ok || n == 0:
			return nil, badRequest("malformed Sec-WebSocket-Extensions")
		case n > MaxOfferedExtensions:
			return nil, badRequest("too many extensions offered")
		}
		u.Extensions = appendExtensions(make([]string, 0, n), exts)
	}
	return u, nil
}

// validKey reports whether key is the base64 of exactly 16 bytes (RFC 6455
// §4.2.1 item 5).
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var buf [18]byte
	n, err := strictBase64.Decode(buf[:], []byte(key))
	return err == nil && n == 16
}

// validHost reports whether h can be a uri-host with an optional port (RFC
// 3986 §3.2.2): reg-name, IPv4 or an IP literal in brackets. It checks the
// characters, not the structure: routing compares hosts, and what must not
// pass is whitespace, a path, userinfo or a fragment.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			switch c {
			case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%', ':', '[', ']':
			default:
				return false
			}
		}
	}
	return true
}

// ComputeAccept returns the Sec-WebSocket-Accept for key: the base64 of the
// SHA-1 of key and the RFC 6455 GUID (§4.2.2 step 5.4).
func ComputeAccept(key string) string {
	var buf [64]byte
	b := append(buf[:0], key...)
	b = append(b, acceptGUID...)
	sum := sha1.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// NewKey returns a fresh Sec-WebSocket-Key: 16 bytes from crypto/rand in
// base64. weir sends its own key to a backend, never the client's.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it aborts the process instead)
	return base64.StdEncoding.EncodeToString(b[:])
}
