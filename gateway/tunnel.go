package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// runTunnel relays opaque bytes after the validated 101 (relay: tunnel).
// Between two *net.TCPConn, io.Copy becomes splice(2): bytes never enter
// user space. The only frame-level feature is the idle timeout, enforced
// with read deadlines that are pushed forward while either direction moves
// bytes.
func (s *Server) runTunnel(ss *session, c net.Conn, cbr *bufio.Reader, bc net.Conn, bbr *bufio.Reader) {
	idle := ss.route.cfg.Limits.IdleTimeout
	var last atomic.Int64
	last.Store(time.Now().UnixNano())

	ended := make(chan struct{}, 2)
	copyDir := func(dst, src net.Conn, br *bufio.Reader) {
		defer func() { ended <- struct{}{} }()
		// Bytes that arrived with the handshake go first.
		if br != nil {
			if n := br.Buffered(); n > 0 {
				b, _ := br.Peek(n)
				if _, err := dst.Write(b); err != nil {
					return
				}
			}
			s.putReader(br)
		}
		for {
			_ = src.SetReadDeadline(time.Now().Add(idle))
			n, err := io.Copy(dst, io.LimitReader(src, 1<<20))
			if n > 0 {
				last.Store(time.Now().UnixNano())
			}
			if err == nil && n > 0 {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Idle in this direction; the session is idle only when the
				// other direction was quiet as long.
				if time.Since(time.Unix(0, last.Load())) < idle {
					continue
				}
			}
			break
		}
		// Pass the end on: a half-close, so the other direction can finish.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		copyDir(bc, c, cbr)
	}()
	go func() {
		defer s.wg.Done()
		copyDir(c, bc, bbr)
	}()
	// This goroutine owns the session: once one direction ended, the other
	// gets the close timeout to finish, then both connections are closed.
	select {
	case <-ended:
		t := time.NewTimer(s.closeTimeout())
		select {
		case <-ended:
		case <-t.C:
		case <-ss.done:
		}
		t.Stop()
	case <-ss.done:
	}
	ss.finish()
}
