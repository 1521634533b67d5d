package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/balance"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

// session is one relayed WebSocket: two legs, two pumps (frame engine) and
// the close handshake between them.
type session struct {
	id      uint64
	srv     *Server
	gen     *generation
	route   *route
	backend *balance.Backend
	client  *leg
	server  *leg
	c2b     *pump
	b2c     *pump
	start   time.Time
	remote  netip.AddrPort

	// The session's logger is built on first use: most sessions never log
	// (their lines are Debug), and building it cost allocations and a
	// string per handshake.
	logOnce sync.Once
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc

	// Filters: chainMu serialises the two directions' calls into the
	// chain, which is called by one goroutine at a time.
	chainMu sync.Mutex
	chain   *filters.Instance
	fsess   *filters.Session
	curPump *pump

	mu         sync.Mutex
	closeCode  ws.StatusCode // first code seen or sent: the session's end code
	closeTimer *time.Timer
	// lingerClient: weir failed the session because of what the client
	// sent, which may still be arriving; its connection is closed after a
	// drain (lingerClose) so that a reset does not destroy weir's Close.
	lingerClient bool
	keepalive    *time.Timer
	finished     bool
	done         chan struct{}
}

// logger returns the session's logger, which names the session, its route
// and its client.
func (s *session) logger() *slog.Logger {
	s.logOnce.Do(func() {
		s.log = s.srv.log.With("session", s.id, "route", s.route.name, "remote", s.remote.String())
	})
	return s.log
}

// debugging says whether debug lines are wanted. Callers on every
// session's path test it before they log: boxing a string, a code or a
// duration into a log call's arguments allocates even when the line is
// then dropped.
func (s *session) debugging() bool {
	return s.srv.log.Enabled(context.Background(), slog.LevelDebug)
}

// peerClosed handles a Close frame from `from`: relay it to the other leg,
// and when the other leg had closed already, this is its answer, so complete
// the handshake toward `from` too.
func (s *session) peerClosed(from *leg, code ws.StatusCode, reason string) {
	from.closeRecv.Store(true)
	to := s.other(from)
	s.noteCode(code)
	s.sendClose(to, code, reason)
	if to.closeRecv.Load() || to.dead.Load() {
		s.sendClose(from, code, reason)
	}
	s.armCloseTimer()
	s.maybeFinish()
}

// legLost handles a leg that failed or hung up without a Close: the other
// leg is told with 1011 (backend lost) or 1001 (client gone). 1006 is never
// sent on the wire (RFC 6455 §7.4.1).
func (s *session) legLost(l *leg, why error) {
	l.dead.Store(true)
	to := s.other(l)
	code, reason := ws.StatusGoingAway, "client went away"
	if l == s.server {
		code, reason = ws.StatusInternalServerError, "backend went away"
	}
	if !l.closeRecv.Load() && s.debugging() {
		s.logger().Debug("leg lost", "leg", l.name, "err", why)
	}
	s.noteCode(code)
	s.sendClose(to, code, reason)
	s.armCloseTimer()
	s.maybeFinish()
}

// fail closes the session because of something `from` did (protocol
// violation, limit, filter decision): `from` gets code, the other leg 1001
// (client at fault) or 1011 (backend at fault), unless the filter chose one
// code for both.
func (s *session) fail(from *leg, code ws.StatusCode, reason string) {
	s.noteCode(code)
	s.sendClose(from, code, reason)
	other := s.other(from)
	if from == s.client {
		s.sendClose(other, ws.StatusGoingAway, "client closed by gateway")
	} else {
		s.sendClose(other, ws.StatusInternalServerError, "backend failed")
	}
	s.armCloseTimer()
	s.maybeFinish()
}

// closeAll starts the close handshake on both legs with one code (drain,
// idle timeout).
func (s *session) closeAll(code ws.StatusCode, reason string) {
	s.noteCode(code)
	s.sendClose(s.client, code, reason)
	s.sendClose(s.server, code, reason)
	s.armCloseTimer()
	s.maybeFinish()
}

func (s *session) sendClose(l *leg, code ws.StatusCode, reason string) {
	if l.sendClose(code, reason) {
		s.srv.metrics.CloseSent.With(l.name, strconv.Itoa(int(code))).Add(1)
	}
}

func (s *session) noteCode(code ws.StatusCode) {
	s.mu.Lock()
	if s.closeCode == 0 {
		s.closeCode = code
	}
	s.mu.Unlock()
}

func (s *session) other(l *leg) *leg {
	if l == s.client {
		return s.server
	}
	return s.client
}

// armCloseTimer bounds the close handshake: whatever has not answered
// within the close timeout is cut.
func (s *session) armCloseTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeTimer == nil && !s.finished {
		s.closeTimer = time.AfterFunc(s.srv.closeTimeout(), s.finish)
	}
}

func (s *session) maybeFinish() {
	if s.client.finished() && s.server.finished() {
		s.finish()
	}
}

// finish ends the session once: it stops the timers, takes the legs off the
// poller, closes both connections (which also ends any pump goroutine still
// reading) and releases what the session held.
func (s *session) finish() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	if s.closeTimer != nil {
		s.closeTimer.Stop()
	}
	if s.keepalive != nil {
		s.keepalive.Stop()
	}
	code := s.closeCode
	linger := s.lingerClient
	s.mu.Unlock()

	for _, p := range []*pump{s.c2b, s.b2c} {
		if p != nil && p.tok.Load() != 0 {
			s.srv.poller.remove(p.tok.Load())
		}
	}
	s.client.dead.Store(true)
	s.server.dead.Store(true)
	if linger {
		s.srv.wg.Add(1)
		go func() {
			defer s.srv.wg.Done()
			lingerClose(s.client.conn, faultLinger, faultLingerBytes)
			_ = s.client.conn.Close()
		}()
	} else {
		_ = s.client.conn.Close()
	}
	_ = s.server.conn.Close()
	s.cancel()

	if s.chain != nil {
		s.chainMu.Lock()
		s.chain.Close(context.Background(), uint16(code))
		s.chainMu.Unlock()
	}
	s.backend.Release()
	s.srv.endSession(s)
	if s.debugging() {
		s.logger().Debug("session closed", "code", int(code), "duration", time.Since(s.start))
	}
	close(s.done)
}

// pumpDone classifies why a pump stopped and acts on it.
func (s *session) pumpDone(p *pump, err error) {
	if s.route.tunnel {
		s.tunnelDone(p, err)
		return
	}
	// errors.AsType rather than errors.As: its targets do not escape, and
	// this runs once per direction of every session. A ProtocolError is a
	// value (wsproto/RATIONALE.md), matched as one: no allocation on a
	// peer's bad frame either.
	pe, isPE := errors.AsType[wsproto.ProtocolError](err)
	ce, isCE := errors.AsType[*filters.CloseError](err)
	if isPE || isCE {
		// Frames read and validated before the fault, in the same batch,
		// still go out ahead of the Close: the peer's mistake does not
		// cost the messages it sent correctly.
		if ferr := p.flush(); ferr != nil {
			err, isPE, isCE = ferr, false, false
		}
	}
	we, isWE := errors.AsType[*writeError](err)
	switch {
	case isWE:
		s.legLost(p.dst, we.err)
	case isPE:
		if s.debugging() {
			s.logger().Debug("protocol violation", "leg", p.src.name, "code", int(pe.Code), "reason", pe.Reason)
		}
		s.failFrom(p, pe.Code, pe.Reason)
	case isCE:
		s.failFrom(p, ws.StatusCode(ce.Code), ce.Reason)
	default:
		// End of stream, a closed or timed-out socket, or any other read
		// failure: the source leg is gone.
		s.legLost(p.src, err)
	}
}

// tunnelDone handles the end of a tunnel direction. A clean end of stream
// is passed on as a half-close so that the other direction can finish; the
// session ends when both have, or at the close timeout. Anything else ends
// it at once: a tunnel has no close handshake of its own to run.
func (s *session) tunnelDone(p *pump, err error) {
	if _, isWE := errors.AsType[*writeError](err); isWE || !errors.Is(err, io.EOF) {
		s.finish()
		return
	}
	if tc, ok := p.dst.conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	// For a tunnel, closeRecv marks the end of the peer's byte stream.
	p.src.closeRecv.Store(true)
	if s.client.closeRecv.Load() && s.server.closeRecv.Load() {
		s.finish()
		return
	}
	s.armCloseTimer()
}

// failFrom fails the session because of what p's source sent. The source is
// no longer read as frames: its leg counts as finished once weir's Close is
// out (a peer that broke the protocol gets no second chance), and the close
// timer bounds the rest.
func (s *session) failFrom(p *pump, code ws.StatusCode, reason string) {
	if p.src == s.client {
		s.mu.Lock()
		s.lingerClient = true
		s.mu.Unlock()
	}
	s.fail(p.src, code, reason)
	p.src.closeRecv.Store(true)
	s.maybeFinish()
}

// runChain calls the filter chain for one message, serialised with the
// other direction.
func (s *session) runChain(p *pump, m *filters.Message) (filters.Verdict, error) {
	s.chainMu.Lock()
	defer s.chainMu.Unlock()
	s.curPump = p
	v, err := s.chain.OnMessage(s.ctx, m)
	s.curPump = nil
	if err != nil {
		var ce *filters.CloseError
		if !errors.As(err, &ce) || ce.Code == uint16(ws.StatusInternalServerError) {
			s.srv.metrics.FilterErrors.With(s.route.name).Add(1)
		}
	}
	return v, err
}

// Send implements filters.Sender: a message injected by a filter. During
// OnMessage in the same direction it goes out right after the current
// message; otherwise at once (or after a half-written message).
func (s *session) Send(dir filters.Direction, op ws.OpCode, payload []byte) error {
	if op != ws.OpText && op != ws.OpBinary {
		return errors.New("gateway: injected messages must be text or binary")
	}
	if int64(len(payload)) > s.route.maxMessage {
		return errors.New("gateway: injected message exceeds the message size limit")
	}
	if p := s.curPump; p != nil && p.dir == dir {
		p.inject = append(p.inject, injected{op: op, payload: append([]byte(nil), payload...)})
		return nil
	}
	dst := s.server
	if dir == filters.BackendToClient {
		dst = s.client
	}
	return dst.inject(op, payload, int(s.route.maxMessage))
}

// CloseSession implements filters.Sender. A filter calls it while the
// chain's mutex is held, and closing may finish the session, which takes
// that mutex to close the chain: so the close runs on its own goroutine.
// It ends quickly: writes are bounded by write deadlines, and the server's
// WaitGroup accounts for it.
func (s *session) CloseSession(code uint16, reason string) {
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		s.closeAll(ws.StatusCode(code), reason)
	}()
}

// keepaliveTick pings silent peers, cuts peers that do not answer, and ends
// idle sessions (SECURITY-CASES L-06).
func (s *session) keepaliveTick() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	lim := &s.route.cfg.Limits
	now := time.Now().UnixNano()
	lastData := max(s.c2b.lastData.Load(), s.b2c.lastData.Load())
	if s.route.tunnel {
		// Idle timeout only: no frames to ping with or to close with. The
		// next tick is due when the quiet time would reach the timeout.
		quiet := time.Duration(now - lastData)
		if quiet >= lim.IdleTimeout {
			s.finish()
			return
		}
		s.rearm(max(lim.IdleTimeout-quiet, 10*time.Millisecond))
		return
	}
	if lim.IdleTimeout > 0 && now-lastData > int64(lim.IdleTimeout) {
		s.closeAll(ws.StatusGoingAway, "idle timeout")
		return
	}
	for _, p := range []*pump{s.c2b, s.b2c} {
		l := p.src
		if l.dead.Load() || l.closeRecv.Load() {
			continue
		}
		if sent := p.pingSent.Load(); sent != 0 {
			if now-sent > int64(lim.PongTimeout) {
				s.legLost(l, errors.New("no pong within the pong timeout"))
				return
			}
			continue
		}
		if lim.PingInterval > 0 && now-p.lastRecv.Load() >= int64(lim.PingInterval) {
			p.pingSent.Store(now)
			_ = l.writeControl(ws.OpPing, nil)
		}
	}
	s.rearm(s.tickPeriod())
}

// rearm schedules the next keepalive tick, unless the session ended.
func (s *session) rearm(d time.Duration) {
	s.mu.Lock()
	if !s.finished {
		s.keepalive.Reset(d)
	}
	s.mu.Unlock()
}

// tickPeriod is how often the keepalive tick runs: the shortest of the
// idle, ping and pong times; for a tunnel the idle timeout, or 0 (no tick)
// without one.
func (s *session) tickPeriod() time.Duration {
	lim := &s.route.cfg.Limits
	if s.route.tunnel {
		return lim.IdleTimeout
	}
	d := lim.IdleTimeout
	for _, x := range []time.Duration{lim.PingInterval, lim.PongTimeout} {
		if x > 0 && (d <= 0 || x < d) {
			d = x
		}
	}
	if d <= 0 {
		d = time.Minute
	}
	return d
}

// --- running the pumps ---

// run starts the session's pumps and its keepalive tick: on the poller when
// both legs are plain TCP sockets, else on goroutines of their own.
func (s *session) run() {
	now := time.Now().UnixNano()
	for _, p := range []*pump{s.c2b, s.b2c} {
		p.lastRecv.Store(now)
		p.lastData.Store(now)
	}
	if d := s.tickPeriod(); d > 0 {
		s.mu.Lock()
		s.keepalive = time.AfterFunc(d, s.keepaliveTick)
		s.mu.Unlock()
	}
	if s.srv.poller != nil && s.client.fd >= 0 && s.server.fd >= 0 {
		s.runPolled()
		return
	}
	s.runBlocking()
}

// runBlocking runs both pumps on goroutines of their own until the session
// ends (TLS legs, platforms without the poller).
func (s *session) runBlocking() {
	for _, p := range []*pump{s.c2b, s.b2c} {
		p := p
		p.acquire()
		s.srv.wg.Add(1)
		go func() {
			defer s.srv.wg.Done()
			s.pumpDone(p, p.serve(false))
			p.release()
		}()
	}
}

// runPolled starts both pumps once (a reader may already hold bytes that
// arrived with the handshake). Each registers with the poller the first
// time it parks, so a session that ends while its pumps linger never
// touches epoll.
func (s *session) runPolled() {
	s.c2b.wake()
	s.b2c.wake()
}

// lingerTime is how long a pump whose reader ran dry waits for more bytes
// before it parks on epoll. Parking and waking cost an epoll_ctl, a
// goroutine start and a hand-off between threads, which measured at about a
// third of the frame engine's throughput when paid per burst; a short
// linger pays them only once a session really goes quiet, and an idle
// session still ends up holding no goroutine and no buffer.
const lingerTime = 2 * time.Millisecond

// wake has a worker (a reused goroutine, see workers) serve the pump until
// its reader is empty, then park it again. The poller's registration is
// one-shot, so at most one wake is in flight per pump (running guards the
// first, unarmed run).
func (p *pump) wake() {
	if !p.running.CompareAndSwap(false, true) {
		return
	}
	p.s.srv.wg.Add(1)
	p.s.srv.workers.Go(p.task)
}

// woken serves a woken pump on a worker. It reaches the worker as p.task,
// a method value made when the pump is built: making it here would
// allocate once per burst of every session.
func (p *pump) woken() {
	defer p.s.srv.wg.Done()
	err := p.burst()
	if !errors.Is(err, errIdle) {
		p.s.pumpDone(p, err)
		p.release()
		return
	}
	// Park: the reader is empty and the output flushed, so the buffers
	// go back to the pools; a half-read frame keeps its state in the
	// pump itself.
	p.release()
	p.running.Store(false)
	p.parks.Add(1)
	if err := p.park(); err != nil {
		// The poller cannot take this descriptor: this direction keeps
		// a goroutine of its own instead. Nothing else can wake it,
		// since it was never registered.
		p.running.Store(true)
		p.s.logger().Warn("poller refused a session; serving it with a goroutine", "err", err)
		p.acquire()
		p.s.pumpDone(p, p.serve(false))
		p.release()
	}
}

// burst serves a woken pump until it has been quiet for lingerTime
// (errIdle) or its direction ends. A spliced tunnel direction lingers
// inside serveSplice and needs no buffer.
func (p *pump) burst() error {
	if p.splice {
		return p.serve(true)
	}
	p.acquire()
	// The socket is readable (or hung up): fill once, then serve what is
	// buffered.
	var err error
	if p.br.Buffered() == 0 {
		_, err = p.br.Peek(1)
	}
	for err == nil {
		err = p.serve(true)
		// Linger on Go's netpoller before parking on epoll: a session in a
		// burst keeps its goroutine and buffers (see lingerTime).
		if !errors.Is(err, errIdle) {
			break
		}
		lerr := p.linger()
		if !errors.Is(lerr, os.ErrDeadlineExceeded) {
			err = lerr // bytes (nil), or EOF or a failure for serve to see
			continue
		}
		if p.br.Buffered() > 0 {
			// The start of a frame whose rest did not come: relay it as a
			// fragment, so that the reader is empty when the pump parks.
			p.partial = true
			err = p.serve(true)
			p.partial = false
		}
	}
	return err
}

// acquire takes the buffers the pump needs from the pools: a reader unless
// it splices, a work buffer (output batch and scratch) unless it is a
// tunnel (which writes from its reader).
func (p *pump) acquire() {
	if p.br == nil && !p.splice {
		p.br = p.s.srv.getReader(p.src.conn)
	}
	if p.w == nil && !p.raw {
		p.w = p.s.srv.getWork()
		p.out = p.w.out[:0]
	}
}

// linger waits up to lingerTime for the next bytes from src, reading them
// straight into the pump's reader: a read that finds nothing parks the
// goroutine on Go's netpoller until bytes come or the deadline passes.
//
// The read deadline stays set between lingers and is pushed forward only
// once half of it is gone (as serveSplice does), so that a busy direction
// pays a timer update every lingerTime/2 rather than two per batch; reads
// that must not time out clear it first (noLinger).
func (p *pump) linger() error {
	if now := time.Now().UnixNano(); p.lingerUntil-now < int64(lingerTime/2) {
		p.lingerUntil = now + int64(lingerTime)
		_ = p.src.conn.SetReadDeadline(time.Unix(0, p.lingerUntil))
	}
	// One read: the reader may hold the start of a frame (see waitWhole).
	_, err := p.br.Peek(p.br.Buffered() + 1)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p.noLinger()
	}
	return err
}

// noLinger clears the linger's read deadline, before a read that waits for
// bytes a frame still owes (the rest of a header, a control frame's
// payload) or for the next frame of a pump that no longer parks.
func (p *pump) noLinger() {
	if p.lingerUntil != 0 {
		p.lingerUntil = 0
		_ = p.src.conn.SetReadDeadline(time.Time{})
	}
}

// park hands an idle pump to the poller: the first park registers its
// descriptor (armed), later ones re-arm it. Registration happens under the
// session's mutex and only while the session is not finished, so finish,
// which reads the token after marking the session finished, always sees a
// registration it must remove, and a closed descriptor is never added.
func (p *pump) park() error {
	srv := p.s.srv
	if tok := p.tok.Load(); tok != 0 {
		// An error means the session ended under us: nothing to watch.
		_ = srv.poller.arm(tok)
		return nil
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.s.finished {
		return nil
	}
	_, err := srv.poller.add(p.src.fd, p.wake, p.tok.Store)
	return err
}

// release returns the pump's buffers to the pools. A reader that still
// holds bytes is dropped rather than pooled.
func (p *pump) release() {
	p.publish()
	if p.br != nil && p.br.Buffered() == 0 {
		p.s.srv.putReader(p.br)
	}
	if p.w != nil {
		p.s.srv.putWork(p.w)
	}
	if p.pipe != nil { // the direction ended: its pipe may hold bytes
		p.pipe.close()
	}
	p.br, p.w, p.out, p.span, p.pipe = nil, nil, nil, nil, nil
	// The reassembly buffer goes too, unless it holds the start of a
	// message whose rest is still to come: an idle filtered session holds
	// no message buffer (it kept up to 64 KiB per direction before).
	if !p.v.InMessage() {
		p.msg, p.inject = nil, nil
	}
}
