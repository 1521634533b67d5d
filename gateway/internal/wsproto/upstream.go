package wsproto

import (
	"net/netip"

	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// UpstreamOptions says how weir re-originates a client's upgrade towards a
// backend.
type UpstreamOptions struct {
	// Key is weir's own Sec-WebSocket-Key (NewKey); the client's is never
	// forwarded.
	Key string
	// Host is the Host to send; "" keeps the client's.
	Host string
	// Target is the request-target to send; "" keeps the client's.
	Target string
	// ClientIP is the socket peer (or the address a trusted proxy gave).
	ClientIP netip.Addr
	// Proto is "http" or "https": what the client used to reach weir.
	Proto string
	// TrustForwarded says the peer is a trusted proxy: its X-Forwarded-For
	// and Forwarded are kept and weir's hop is appended, and its
	// X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP are kept as they
	// are. Otherwise all five are removed and only weir's are sent
	// (SECURITY-CASES rule 8, B-03).
	TrustForwarded bool
	// ForwardExtensions passes the client's Sec-WebSocket-Extensions offer
	// through (tunnel mode, where weir does not parse frames).
	ForwardExtensions bool
	// Extra headers are added last (e.g. traceparent, policy obligations).
	// An entry with an invalid name or value, or naming a header that
	// frames the request or the handshake, is skipped.
	Extra []httphead.Header
}

// hopByHop are removed from a request or response before it is passed on
// (RFC 9110 §7.6.1), together with every header its Connection names.
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
	"HTTP2-Settings",
}

func isHopByHop(name string) bool {
	for _, h := range hopByHop {
		if httphead.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// ownedUpstream are the headers weir writes itself on the backend request:
// the client's are dropped, and Extra may not add them.
var ownedUpstream = [...]string{
	"Host", "Content-Length", "Sec-WebSocket-Key", "Sec-WebSocket-Accept",
	"Sec-WebSocket-Version",
}

func isOwnedUpstream(name string) bool {
	for _, h := range ownedUpstream {
		if httphead.EqualFold(name, h) {
			return true
		}
	}
	return isHopByHop(name)
}

// forwardingHeaders describe the client's hop; they are trusted only from a
// trusted proxy.
var forwardingHeaders = [...]string{
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP",
}

func isForwarding(name string) bool {
	for _, h := range forwardingHeaders {
		if httphead.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// AppendUpstreamRequest appends weir's upgrade request for a backend: the
// client's request r (checked by CheckRequest into u) re-originated with
// weir's own key.
//
// Hop-by-hop processing runs before weir adds its own headers
// (SECURITY-CASES rule 4, S-07): Connection, Keep-Alive, Proxy-Connection,
// Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding,
// Upgrade, HTTP2-Settings and every header the client's Connection names are
// removed; so are Host, Content-Length, Sec-WebSocket-Key, -Accept and
// -Version, Sec-WebSocket-Extensions unless o.ForwardExtensions, and the
// forwarding headers unless o.TrustForwarded. Then weir writes Host,
// Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version,
// X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded and Extra.
// Everything else (Sec-WebSocket-Protocol, Origin, cookies, authorization)
// passes unchanged, in order.
//
// Bytes that cannot appear in a request line or field value are dropped from
// o.Host and o.Target, so a bad option can never split the request.
func AppendUpstreamRequest(dst []byte, r *httphead.Request, u *Upgrade, o UpstreamOptions) []byte {
	target := o.Target
	if target == "" {
		target = r.Target
	}
	dst = append(dst, "GET "...)
	if target == "" || target[0] != '/' {
		dst = append(dst, '/')
	}
	dst = appendVisible(dst, target)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	host := o.Host
	if host == "" {
		host = u.Host
	}
	dst = appendVisible(dst, host)
	dst = append(dst, "\r\n"...)

	var xffs, fwds []string
	var haveXFP, haveXFH bool
	for _, h := range r.Headers {
		switch {
		case isOwnedUpstream(h.Name), nominated(r.Headers, h.Name):
			continue
		case httphead.EqualFold(h.Name, "Sec-WebSocket-Extensions") && !o.ForwardExtensions:
			continue
		case isForwarding(h.Name):
			if !o.TrustForwarded {
				continue
			}
			switch {
			case httphead.EqualFold(h.Name, "X-Forwarded-For"):
				xffs = append(xffs, h.Value)
				continue
			case httphead.EqualFold(h.Name, "Forwarded"):
				fwds = append(fwds, h.Value)
				continue
			case httphead.EqualFold(h.Name, "X-Forwarded-Proto"):
				haveXFP = true
			case httphead.EqualFold(h.Name, "X-Forwarded-Host"):
				haveXFH = true
			}
		}
		dst = appendField(dst, h.Name, h.Value)
	}

	dst = append(dst, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "...)
	dst = appendVisible(dst, o.Key)
	dst = append(dst, "\r\nSec-WebSocket-Version: 13\r\n"...)

	ip := o.ClientIP.Unmap().WithZone("")
	if len(xffs) > 0 || ip.IsValid() {
		dst = append(dst, "X-Forwarded-For: "...)
		for i, v := range xffs {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, v...)
		}
		if ip.IsValid() {
			if len(xffs) > 0 {
				dst = append(dst, ", "...)
			}
			dst = ip.AppendTo(dst)
		}
		dst = append(dst, "\r\n"...)
	}
	proto := o.Proto
	if proto != "https" {
		proto = "http"
	}
	if !haveXFP {
		dst = append(dst, "X-Forwarded-Proto: "...)
		dst = append(dst, proto...)
		dst = append(dst, "\r\n"...)
	}
	if !haveXFH {
		dst = append(dst, "X-Forwarded-Host: "...)
		dst = appendVisible(dst, u.Host)
		dst = append(dst, "\r\n"...)
	}

	// Forwarded (RFC 7239): for=, an IPv6 address quoted and bracketed
	// (§6), "unknown" when the address is not known (§6.3); proto=; host=
	// quoted when it is not a token (a port's colon).
	dst = append(dst, "Forwarded: "...)
	for _, v := range fwds {
		dst = append(dst, v...)
		dst = append(dst, ", "...)
	}
	dst = append(dst, "for="...)
	switch {
	case !ip.IsValid():
		dst = append(dst, "unknown"...)
	case ip.Is6():
		dst = append(dst, `"[`...)
		dst = ip.AppendTo(dst)
		dst = append(dst, `]"`...)
	default:
		dst = ip.AppendTo(dst)
	}
	dst = append(dst, ";proto="...)
	dst = append(dst, proto...)
	dst = append(dst, ";host="...)
	if httphead.IsToken(u.Host) {
		dst = append(dst, u.Host...)
	} else {
		dst = append(dst, '"')
		// validHost admits neither '"' nor '\\', so nothing needs escaping;
		// appendVisible drops them anyway for an Upgrade built by hand.
		for i := 0; i < len(u.Host); i++ {
			if c := u.Host[i]; c > ' ' && c < 0x7f && c != '"' && c != '\\' {
				dst = append(dst, c)
			}
		}
		dst = append(dst, '"')
	}
	dst = append(dst, "\r\n"...)

	for _, h := range o.Extra {
		if !httphead.IsToken(h.Name) || !httphead.ValidFieldValue(h.Value) || isOwnedUpstream(h.Name) ||
			httphead.EqualFold(h.Name, "Sec-WebSocket-Extensions") {
			continue
		}
		dst = appendField(dst, h.Name, h.Value)
	}
	return append(dst, "\r\n"...)
}

// nominated reports whether a Connection header in hs names name, which
// makes that header hop-by-hop (RFC 9110 §7.6.1). It does not allocate.
func nominated(hs []httphead.Header, name string) bool {
	for _, h := range hs {
		if httphead.EqualFold(h.Name, "Connection") && httphead.ContainsToken(h.Value, name) {
			return true
		}
	}
	return false
}

// appendField appends "name: value\r\n". The caller passes a name and value
// that httphead accepted or that were checked.
func appendField(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// appendVisible appends the visible ASCII bytes of s (0x21–0x7E) and drops
// the rest: what may stand in a request line or a token-like field.
func appendVisible(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > ' ' && c < 0x7f {
			dst = append(dst, c)
		}
	}
	return dst
}
