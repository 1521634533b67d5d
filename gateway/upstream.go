package gateway

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/weirproxy/weir/gateway/balance"
	"github.com/weirproxy/weir/gateway/internal/httphead"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

// maxRelayedBody caps the body of a backend's non-101 answer that weir
// relays to the client.
const maxRelayedBody = 64 << 10

// dialBackend opens weir's own WebSocket leg to a backend of r: pick, dial
// (trying other members while no byte was sent), send weir's upgrade
// request, and validate the answer fully (SECURITY-CASES rule 1: no tunnel
// is ever built on anything but a valid 101). The error, when not nil, is a
// *wsproto.HandshakeError to answer the client with.
func (s *Server) dialBackend(r *route, req *httphead.Request, up *wsproto.Upgrade, clientIP netip.Addr, proto string, trusted bool) (net.Conn, *bufio.Reader, wsproto.Accepted, *balance.Backend, error) {
	var tried []*balance.Backend
	var conn net.Conn
	var b *balance.Backend
	for range r.pool.Tries() {
		var err error
		b, err = r.pool.Pick(tried)
		if err != nil {
			break
		}
		tried = append(tried, b)
		// No TCP keepalive: WebSocket pings watch the backend leg (see Start).
		d := net.Dialer{Timeout: r.cfg.Timeouts.Connect, KeepAlive: -1}
		conn, err = d.Dial("tcp", b.Address)
		if err == nil && b.TLS {
			host, _, _ := net.SplitHostPort(b.Address)
			tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
			_ = tc.SetDeadline(time.Now().Add(r.cfg.Timeouts.Handshake))
			if err = tc.Handshake(); err != nil {
				conn.Close()
			} else {
				conn = tc
			}
		}
		if err == nil {
			break
		}
		conn = nil
		r.pool.Done(b, err)
		s.metrics.BackendDialErrors.With(b.Address).Add(1)
		s.log.Warn("backend unreachable", "route", r.name, "backend", b.Address, "err", err)
	}
	if conn == nil {
		return nil, nil, wsproto.Accepted{}, nil, http503("no backend available")
	}
	b.Acquire()
	fail := func(herr error) (net.Conn, *bufio.Reader, wsproto.Accepted, *balance.Backend, error) {
		conn.Close()
		b.Release()
		return nil, nil, wsproto.Accepted{}, nil, herr
	}

	key := wsproto.NewKey()
	// The request head is built in a pooled work buffer (appending to nil
	// grew it three or four times per handshake), given back as soon as it
	// is written: the wait for the backend's answer must not hold one.
	w := s.getWork()
	head := wsproto.AppendUpstreamRequest(w.out[:0], req, up, wsproto.UpstreamOptions{
		Key:               key,
		ClientIP:          clientIP,
		Proto:             proto,
		TrustForwarded:    trusted,
		ForwardExtensions: r.tunnel,
	})
	_ = conn.SetDeadline(time.Now().Add(r.cfg.Timeouts.Handshake))
	_, err := conn.Write(head)
	s.putWork(w)
	if err != nil {
		r.pool.Done(b, err)
		return fail(&wsproto.HandshakeError{Status: 502, Reason: "backend closed the connection"})
	}
	br := s.getHead(conn)
	resp, err := httphead.ReadResponse(br, httphead.Limits{MaxBytes: headSize, MaxHeaders: 100})
	if err != nil {
		s.putReader(br)
		r.pool.Done(b, err)
		s.metrics.BackendDialErrors.With(b.Address).Add(1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fail(&wsproto.HandshakeError{Status: 504, Reason: "backend did not answer the upgrade in time"})
		}
		return fail(&wsproto.HandshakeError{Status: 502, Reason: "backend sent an invalid answer"})
	}
	acc, err := wsproto.CheckResponse(resp, key, up, r.tunnel)
	if err != nil {
		s.metrics.BackendDialErrors.With(b.Address).Add(1)
		if errors.Is(err, wsproto.ErrNotSwitching) && resp.Status >= 300 {
			// A legitimate refusal (401, 404, 426, 503 …) is the backend's
			// answer to give; it is relayed with Connection: close and the
			// connection is never reused.
			body := readBody(br, resp)
			s.putReader(br)
			r.pool.Done(b, nil)
			return fail(&relayedResponse{resp: resp, body: body})
		}
		s.putReader(br)
		r.pool.Done(b, nil)
		s.log.Warn("backend refused the upgrade", "route", r.name, "backend", b.Address, "status", resp.Status, "err", err)
		return fail(&wsproto.HandshakeError{Status: 502, Reason: "backend answered the upgrade incorrectly"})
	}
	r.pool.Done(b, nil)
	return conn, br, acc, b, nil
}

// relayedResponse is a backend's non-101 answer, relayed to the client.
type relayedResponse struct {
	resp *httphead.Response
	body []byte
}

func (e *relayedResponse) Error() string { return "backend answered " + strconv.Itoa(e.resp.Status) }

func readBody(br *bufio.Reader, resp *httphead.Response) []byte {
	n, err := strconv.Atoi(resp.Get("Content-Length"))
	if err != nil || n <= 0 || n > maxRelayedBody || resp.Count("Content-Length") != 1 {
		return nil
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil
	}
	return body
}
