package gateway

import (
	"bufio"

	"github.com/weirproxy/weir/filters"
)

// runTunnel relays opaque bytes after the validated 101 (relay: tunnel).
// Each direction is a raw pump: the frame engine's machinery (the poller,
// the linger) without frames, so an idle tunnel costs what an idle frame
// session does, no goroutine and no buffer. Between two plain TCP sockets a
// direction moves bytes with splice(2) through a pipe it holds only while
// bytes move (splice_linux.go); otherwise (TLS legs, other platforms) it
// writes straight from the reader it read into.
//
// The only limit is the idle timeout; a clean end of stream in one
// direction is passed on as a half-close (see session.tunnelDone).
func (s *Server) runTunnel(ss *session, cbr, bbr *bufio.Reader) {
	ss.c2b = s.newRawPump(ss, ss.client, ss.server, filters.ClientToBackend, cbr)
	ss.b2c = s.newRawPump(ss, ss.server, ss.client, filters.BackendToClient, bbr)
	if ss.debugging() {
		ss.logger().Debug("tunnel open", "backend", ss.backend.Address)
	}
	ss.run()
}

func (s *Server) newRawPump(ss *session, src, dst *leg, dir filters.Direction, br *bufio.Reader) *pump {
	p := &pump{s: ss, src: src, dst: dst, dir: dir, br: br, raw: true, splice: canSplice(src, dst)}
	p.task = p.woken
	p.frames = s.metrics.FramesRelayed.With(dir.String())
	p.bytes = s.metrics.BytesRelayed.With(dir.String())
	if br != nil && br.Buffered() == 0 && !p.splice {
		s.putReader(br)
		p.br = nil
	}
	return p
}
