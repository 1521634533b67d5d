package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/internal/demo"
	"github.com/weirproxy/weir/gateway/internal/httphead"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

// handleConn takes one client connection from accept to a running session
// (or to an HTTP answer and a closed socket).
func (s *Server) handleConn(l *listener, c net.Conn) {
	defer s.wg.Done()
	s.metrics.ConnectionsActive.Add(1)
	handedOff := false
	defer func() {
		if !handedOff {
			_ = c.Close()
			s.metrics.ConnectionsActive.Add(-1)
		}
	}()
	g := s.current()
	defer func() {
		if !handedOff {
			g.drop(context.Background())
		}
	}()
	cfg := g.cfg

	if n := s.conns.Add(1); cfg.Server.MaxConnections > 0 && n > int64(cfg.Server.MaxConnections) {
		s.conns.Add(-1)
		s.reject(c, http503("connection limit reached"))
		return
	}
	defer func() {
		if !handedOff {
			s.conns.Add(-1)
		}
	}()

	deadline := time.Now().Add(cfg.Server.HandshakeTimeout)
	_ = c.SetDeadline(deadline)
	if tc, ok := c.(*tls.Conn); ok && !s.handshakeTLS(tc, deadline) {
		return
	}

	br := s.handshakeReader(c, int(cfg.Server.MaxHeaderBytes))
	req, err := httphead.ReadRequest(br, httphead.Limits{MaxBytes: int(cfg.Server.MaxHeaderBytes), MaxHeaders: cfg.Server.MaxHeaders})
	if err != nil {
		var he *httphead.Error
		switch {
		case errors.As(err, &he):
			s.reject(c, &wsproto.HandshakeError{Status: he.Status, Reason: he.Reason})
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.reject(c, &wsproto.HandshakeError{Status: 408, Reason: "request head not received in time"})
		}
		s.putReader(br)
		return
	}
	if s.misdirected(c, req) { // SNI and Host name different hosts (tls.go)
		return
	}
	path, query, _ := strings.Cut(req.Target, "?")

	r := g.match(l.name, req, path)
	if r == nil {
		s.reject(c, &wsproto.HandshakeError{Status: 404, Reason: "no route for this request"})
		return
	}
	if r.cfg.Serve != "" {
		s.servePlain(c, r, req)
		return
	}
	if !wsproto.IsUpgradeAttempt(req) {
		s.reject(c, &wsproto.HandshakeError{Status: 426, Reason: "this resource speaks WebSocket only",
			Header: []httphead.Header{{Name: "Upgrade", Value: "websocket"}}})
		return
	}
	up, err := wsproto.CheckRequest(req)
	if err != nil {
		s.reject(c, err)
		return
	}
	if !r.originAllowed(up.Origin) {
		s.reject(c, &wsproto.HandshakeError{Status: 403, Reason: "origin not allowed"})
		return
	}
	if s.draining.Load() {
		s.reject(c, http503("draining"))
		return
	}

	remote := addrPort(c.RemoteAddr())
	ss := &session{
		id:    s.sessSeq.Add(1),
		srv:   s,
		gen:   g,
		route: r,
		start: time.Now(),
		done:  make(chan struct{}),
	}
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	ss.remote = remote

	// Filters are created before the backend is dialled, so that their
	// handshake hooks can refuse the session without costing a backend
	// connection.
	if r.chain.Len() > 0 {
		ss.fsess = filters.NewSession(filters.Session{
			ID: ss.id, Route: r.name, Remote: remote, Host: up.Host, Path: path, Query: query,
			Headers: lowerHeaders(req.Headers),
		}, ss)
		ss.chain, err = r.chain.New(ss.ctx, ss.fsess)
		if err != nil {
			ss.cancel()
			s.log.Warn("filters failed to start", "route", r.name, "err", err)
			s.reject(c, &wsproto.HandshakeError{Status: 500, Reason: "filter failed"})
			return
		}
		if err := ss.chain.OnHandshake(ss.ctx); err != nil {
			ss.chain.Close(context.Background(), uint16(ws.StatusPolicyViolation))
			ss.cancel()
			var rej *filters.RejectError
			if errors.As(err, &rej) {
				s.reject(c, &wsproto.HandshakeError{Status: rej.Status, Reason: rej.Reason})
			} else {
				s.reject(c, &wsproto.HandshakeError{Status: 500, Reason: "filter failed"})
			}
			return
		}
	}
	closeChain := func() {
		if ss.chain != nil {
			ss.chain.Close(context.Background(), uint16(ws.StatusGoingAway))
		}
		ss.cancel()
	}

	tl := g.trusts(remote)
	bc, bbr, acc, backend, herr := s.dialBackend(r, req, up, remote.Addr(), l.proto, tl)
	if herr != nil {
		closeChain()
		s.reject(c, herr)
		return
	}
	ss.backend = backend
	if ss.fsess != nil {
		ss.fsess.Subprotocol = acc.Protocol
	}
	lim := &r.cfg.Limits
	if r.tunnel {
		ss.client = newLeg("client", c, 0, false, 0)
		ss.server = newLeg("backend", bc, 0, false, 0)
	} else {
		ss.client = newLeg("client", c, wsproto.ServerSide, false, lim.WriteTimeout)
		ss.server = newLeg("backend", bc, wsproto.ClientSide, true, lim.WriteTimeout)
	}
	// The session becomes visible to a drain before the client gets its
	// 101, and the client leg's write lock is held until the 101 is out: a
	// drain either refuses the handshake (503) or sends its Close after the
	// 101, never before it and never not at all.
	ss.client.wmu.Lock()
	if !s.addSessionUnlessDraining(ss) {
		ss.client.wmu.Unlock()
		_ = bc.Close()
		backend.Release()
		closeChain()
		s.reject(c, http503("draining"))
		return
	}
	// From here the session owns the connection's place under
	// max_connections: endSession gives it back.
	handedOff = true
	w := s.getWork()
	resp := wsproto.AppendSwitching(w.out[:0], wsproto.ComputeAccept(up.Key), acc.Protocol, acc.Extensions, nil)
	_, werr := c.Write(resp)
	s.putWork(w)
	ss.client.wmu.Unlock()
	if werr != nil {
		ss.finish()
		return
	}
	_ = c.SetDeadline(time.Time{})
	_ = bc.SetDeadline(time.Time{})
	if r.tunnel {
		s.runTunnel(ss, br, bbr)
		return
	}
	s.startFrames(ss, br, bbr)
}

// startFrames builds the session's pumps and starts relaying.
func (s *Server) startFrames(ss *session, cbr *bufio.Reader, bbr *bufio.Reader) {
	r := ss.route
	lim := &r.cfg.Limits
	ss.c2b = s.newPump(ss, ss.client, ss.server, filters.ClientToBackend, cbr)
	ss.b2c = s.newPump(ss, ss.server, ss.client, filters.BackendToClient, bbr)
	if lim.MessagesPerSecond > 0 {
		ss.c2b.limiter = newTokenBucket(lim.MessagesPerSecond, lim.Burst)
	}
	if ss.debugging() {
		ss.logger().Debug("session open", "backend", ss.backend.Address)
	}
	if ss.chain != nil {
		ss.chainMu.Lock()
		err := ss.chain.OnOpen(ss.ctx)
		ss.chainMu.Unlock()
		if err != nil {
			ss.logger().Warn("filter open hook failed", "err", err)
			ss.closeAll(ws.StatusInternalServerError, "filter failed")
			return
		}
	}
	ss.run()
}

func (s *Server) newPump(ss *session, src, dst *leg, dir filters.Direction, br *bufio.Reader) *pump {
	p := &pump{s: ss, src: src, dst: dst, dir: dir, br: br}
	p.task = p.woken
	p.v.Init(src.role, ss.route.maxFrame, ss.route.maxMessage)
	if dst.mask {
		p.masks = new(wsproto.MaskSource)
		p.masks.Seed()
	}
	p.filtered = ss.chain != nil && ss.route.chain.Wants(dir) && !ss.route.chain.Streaming()
	p.frames = s.metrics.FramesRelayed.With(dir.String())
	p.bytes = s.metrics.BytesRelayed.With(dir.String())
	if br != nil && br.Buffered() == 0 {
		s.putReader(br)
		p.br = nil
	}
	return p
}

// drain starts closing the session for a shutdown.
func (ss *session) drain() {
	if ss.route.tunnel { // no frames to speak: just hang up
		ss.finish()
		return
	}
	ss.closeAll(ws.StatusGoingAway, "server shutting down")
}

func (r *route) originAllowed(origin string) bool {
	if origin == "" {
		return r.cfg.AllowMissingOrigin == nil || *r.cfg.AllowMissingOrigin
	}
	if r.anyOrigin || len(r.origins) == 0 {
		return true
	}
	return r.origins[strings.ToLower(origin)]
}

// reject answers a handshake with an HTTP error and Connection: close.
func (s *Server) reject(c net.Conn, err error) {
	var rr *relayedResponse
	if errors.As(err, &rr) {
		s.metrics.HandshakeRejected.With(strconv.Itoa(rr.resp.Status)).Add(1)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(wsproto.AppendResponse(nil, rr.resp, rr.body))
		lingerClose(c, answerLinger, answerLingerBytes)
		return
	}
	var he *wsproto.HandshakeError
	if !errors.As(err, &he) {
		he = &wsproto.HandshakeError{Status: 500, Reason: "internal error"}
	}
	s.metrics.HandshakeRejected.With(strconv.Itoa(he.Status)).Add(1)
	s.log.Debug("handshake rejected", "remote", c.RemoteAddr().String(), "status", he.Status, "reason", he.Reason)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(wsproto.AppendError(nil, he.Status, he.Reason, he.Header))
	lingerClose(c, answerLinger, answerLingerBytes)
}

// lingerClose half-closes c and reads and drops what the peer still sends,
// for at most d and max bytes, before the caller closes it: closing with
// unread bytes sends a reset, which can destroy the answer weir wrote (an
// HTTP error, a Close frame) before the peer has read it.
func lingerClose(c net.Conn, d time.Duration, max int) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	_ = tc.CloseWrite()
	_ = tc.SetReadDeadline(time.Now().Add(d))
	var buf [4 << 10]byte
	for n := 0; n < max; {
		m, err := tc.Read(buf[:])
		n += m
		if err != nil {
			return
		}
	}
}

// How long and how much lingerClose reads: after an HTTP answer (the rest
// of a request), and after weir closed a session because of what the
// client sent (the rest of a message in flight).
const (
	answerLinger, answerLingerBytes = 200 * time.Millisecond, 32 << 10
	faultLinger, faultLingerBytes   = 500 * time.Millisecond, 4 << 20
)

func http503(reason string) *wsproto.HandshakeError {
	return &wsproto.HandshakeError{Status: 503, Reason: reason, Header: []httphead.Header{{Name: "Retry-After", Value: "1"}}}
}

// servePlain answers a plain HTTP request on a route weir serves itself.
func (s *Server) servePlain(c net.Conn, r *route, req *httphead.Request) {
	if wsproto.IsUpgradeAttempt(req) {
		s.reject(c, &wsproto.HandshakeError{Status: 400, Reason: "this resource is not a WebSocket endpoint"})
		return
	}
	if req.Method != "GET" && req.Method != "HEAD" {
		s.reject(c, &wsproto.HandshakeError{Status: 405, Reason: "method not allowed",
			Header: []httphead.Header{{Name: "Allow", Value: "GET, HEAD"}}})
		return
	}
	body := demo.Page
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n"
	_, _ = io.WriteString(c, head)
	if req.Method == "GET" {
		_, _ = c.Write(body)
	}
	lingerClose(c, answerLinger, answerLingerBytes)
}

// handshakeReader returns a reader that holds a whole request head of
// maxHeader bytes. It becomes the client pump's reader when bytes came
// with the head, until the pump first runs dry.
func (s *Server) handshakeReader(c net.Conn, maxHeader int) *bufio.Reader {
	if maxHeader > headSize {
		return bufio.NewReaderSize(c, maxHeader)
	}
	return s.getHead(c)
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func lowerHeaders(hs []httphead.Header) map[string][]string {
	m := make(map[string][]string, len(hs))
	for _, h := range hs {
		k := strings.ToLower(h.Name)
		m[k] = append(m[k], h.Value)
	}
	return m
}
