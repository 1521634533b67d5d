package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// statusServiceRestart is close code 1012 (IANA registry of WebSocket close
// codes): the server is restarting, reconnect. gobwas/ws has no name for it.
const statusServiceRestart ws.StatusCode = 1012

// reloadDrain enforces reload.drain_timeout: a reload schedules one timer,
// and when it fires, the sessions still on a generation older than the one
// that reload installed are closed with 1012 (service restart), so their
// clients reconnect to the new configuration. The Server owns the timers;
// Shutdown stops them and waits for one that is firing. The zero value is
// ready to use.
type reloadDrain struct {
	mu      sync.Mutex
	timers  map[*time.Timer]struct{}
	stopped bool
	running sync.WaitGroup // timers scheduled and not stopped: pending or firing
}

// schedule runs fn after d unless stop comes first.
func (rd *reloadDrain) schedule(d time.Duration, fn func()) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.stopped {
		return
	}
	if rd.timers == nil {
		rd.timers = map[*time.Timer]struct{}{}
	}
	rd.running.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer rd.running.Done()
		rd.mu.Lock()
		delete(rd.timers, t)
		rd.mu.Unlock()
		fn()
	})
	rd.timers[t] = struct{}{}
}

// stop cancels the pending timers and waits for those already firing. No
// timer is scheduled afterwards.
func (rd *reloadDrain) stop() {
	rd.mu.Lock()
	rd.stopped = true
	for t := range rd.timers {
		if t.Stop() {
			// Stopped before it fired: its function will never run.
			rd.running.Done()
			delete(rd.timers, t)
		}
	}
	rd.mu.Unlock()
	rd.running.Wait()
}

// scheduleReloadDrain arms the drain deadline of a reload that installed
// next, when its configuration asks for one.
func (s *Server) scheduleReloadDrain(next *generation) {
	d := next.cfg.Reload.DrainTimeout
	if d <= 0 {
		return
	}
	s.reloadDrain.schedule(d, func() { s.closeOlderThan(next.id, d) })
}

// drainFilters tells the filters of a replaced generation (a WASM plugin's
// weir_on_drain) that their sessions now run on an old configuration, on a
// goroutine of the server's: the hooks call into guests. The generation is
// held until they return, so its plugins cannot be released under them.
func (s *Server) drainFilters(old *generation, deadline time.Duration) {
	if !old.acquire() {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer old.drop(context.Background())
		closed := 0
		for _, r := range old.routes {
			closed += r.chain.Drain(context.Background(), deadline)
		}
		if closed > 0 {
			s.log.Info("filters closed sessions on a replaced configuration", "sessions", closed, "generation", old.id)
		}
	}()
}

// closeOlderThan closes the sessions still on a generation older than id:
// 1012 on both legs of a frame session, a hang-up for a tunnel, which has
// no frames to speak. Sessions already closing keep the code they have. A
// handshake that took its generation before the swap and registers its
// session only after the deadline is not seen here; it is bounded by
// server.handshake_timeout, and its session ends on its own.
func (s *Server) closeOlderThan(id uint64, after time.Duration) {
	s.sessMu.Lock()
	var old []*session
	for _, ss := range s.sessions {
		if ss.gen.id < id {
			old = append(old, ss)
		}
	}
	s.sessMu.Unlock()
	closed := 0
	for _, ss := range old {
		ss.mu.Lock()
		busy := ss.finished || ss.closeCode != 0
		ss.mu.Unlock()
		if busy {
			continue
		}
		closed++
		s.metrics.ReloadDrainClosed.Inc()
		if ss.route.tunnel {
			ss.finish()
			continue
		}
		ss.closeAll(statusServiceRestart, "service restart")
	}
	if closed > 0 {
		s.log.Info("reload drain deadline: closed sessions still on a replaced configuration",
			"sessions", closed, "drain_timeout", after, "generation", id)
	}
}
