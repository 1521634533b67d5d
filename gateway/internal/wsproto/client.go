package wsproto

import "github.com/weirproxy/weir/gateway/internal/httphead"

// Accepted is what a backend's valid 101 chose.
type Accepted struct {
	// Protocol is the subprotocol the backend selected, or "".
	Protocol string
	// Extensions is the backend's Sec-WebSocket-Extensions answer (its
	// lines joined with ", "), or "".
	Extensions string
}

func upstreamErr(reason string) error { return &UpstreamError{Reason: reason} }

// CheckResponse validates a backend's answer to weir's upgrade request
// (RFC 6455 §4.1, client side; SECURITY-CASES rule 1, S-01, S-02, H-07).
// key is the Sec-WebSocket-Key weir sent, offered what it forwarded.
//
// A status other than 101 is an *UpstreamError wrapping ErrNotSwitching.
// A 101 is accepted only over HTTP/1.1 with Upgrade exactly "websocket",
// an "upgrade" token in Connection, exactly one Sec-WebSocket-Accept equal
// to ComputeAccept(key), at most one Sec-WebSocket-Protocol holding one
// token the client offered, and no Sec-WebSocket-Extensions unless
// allowExtensions, in which case every extension must be one the client
// offered, each at most once. Any other 101 is an *UpstreamError without a
// wrapped error: the gateway answers 502 and tunnels nothing.
func CheckResponse(resp *httphead.Response, key string, offered *Upgrade, allowExtensions bool) (Accepted, error) {
	if resp.Status != 101 {
		return Accepted{}, &UpstreamError{Reason: "status is not 101", Err: ErrNotSwitching}
	}
	if resp.Proto != httphead.HTTP11 {
		return Accepted{}, upstreamErr("101 is not HTTP/1.1")
	}
	up := resp.Values("Upgrade")
	if n, ok := httphead.CountTokens(up); !ok || n != 1 || !httphead.HasToken(up, "websocket") {
		return Accepted{}, upstreamErr("Upgrade is not exactly websocket")
	}
	if !httphead.HasToken(resp.Values("Connection"), "upgrade") {
		return Accepted{}, upstreamErr("Connection lacks upgrade")
	}
	if resp.Count("Sec-WebSocket-Accept") != 1 {
		return Accepted{}, upstreamErr("missing or repeated Sec-WebSocket-Accept")
	}
	if resp.Get("Sec-WebSocket-Accept") != ComputeAccept(key) {
		return Accepted{}, upstreamErr("wrong Sec-WebSocket-Accept")
	}

	var acc Accepted
	switch resp.Count("Sec-WebSocket-Protocol") {
	case 0:
	case 1:
		p := resp.Get("Sec-WebSocket-Protocol")
		if !httphead.IsToken(p) || !offeredProtocol(offered, p) {
			return Accepted{}, upstreamErr("subprotocol not offered")
		}
		acc.Protocol = p
	default:
		return Accepted{}, upstreamErr("repeated Sec-WebSocket-Protocol")
	}

	if exts := resp.Values("Sec-WebSocket-Extensions"); exts != nil {
		if !allowExtensions {
			return Accepted{}, upstreamErr("extension not offered")
		}
		if err := checkAcceptedExtensions(exts, offered); err != nil {
			return Accepted{}, err
		}
		acc.Extensions = joinValues(exts)
	}
	return acc, nil
}

// offeredProtocol reports whether p is one of the subprotocols the client
// offered. Subprotocol names compare exactly, as browsers compare them.
func offeredProtocol(offered *Upgrade, p string) bool {
	if offered == nil {
		return false
	}
	for _, o := range offered.Protocols {
		if o == p {
			return true
		}
	}
	return false
}

// checkAcceptedExtensions checks a backend's extension answer: well-formed,
// not empty, and naming only extensions the client offered, each once.
func checkAcceptedExtensions(exts []string, offered *Upgrade) error {
	n, ok := countExtensions(exts)
	if !ok || n == 0 {
		return upstreamErr("malformed Sec-WebSocket-Extensions")
	}
	if n > MaxOfferedExtensions {
		return upstreamErr("too many extensions accepted")
	}
	var seen [MaxOfferedExtensions]string
	names := seen[:0]
	for _, v := range exts {
		sc := extScanner{s: v}
		for {
			ext, done, _ := sc.next()
			if done {
				break
			}
			name := ExtensionName(ext)
			for _, s := range names {
				if httphead.EqualFold(s, name) {
					return upstreamErr("extension accepted twice")
				}
			}
			if !offeredExtension(offered, name) {
				return upstreamErr("extension not offered")
			}
			names = append(names, name)
		}
	}
	return nil
}

func offeredExtension(offered *Upgrade, name string) bool {
	if offered == nil {
		return false
	}
	for _, o := range offered.Extensions {
		if httphead.EqualFold(ExtensionName(o), name) {
			return true
		}
	}
	return false
}

func joinValues(vs []string) string {
	if len(vs) == 1 {
		return vs[0]
	}
	n := 0
	for _, v := range vs {
		n += len(v) + 2
	}
	b := make([]byte, 0, n)
	for i, v := range vs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	return string(b)
}
