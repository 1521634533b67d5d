package gateway

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

// leg is one side of a session: the client's connection or weir's own
// connection to the backend. Writes to a leg are whole frames, serialised by
// wmu, so control frames and injected messages never land inside another
// frame.
type leg struct {
	name string // "client" or "backend": log and metric label
	conn net.Conn
	fd   int             // for the poller; -1 when the connection cannot be polled
	rc   syscall.RawConn // for splice (tunnels); nil unless a plain TCP socket
	// vectored: large frames are written straight from the pump's reader
	// with writev (pump.emitDirect); true for plain TCP sockets, where
	// one writev is one syscall (for TLS it would be a record per buffer).
	vectored bool
	// role is how frames read from this peer are checked: the client leg
	// reads as a server (masked frames), the backend leg as a client.
	role wsproto.Role
	// mask is true when frames written to this peer must be masked (weir is
	// the WebSocket client of the backend).
	mask         bool
	writeTimeout time.Duration

	wmu      sync.Mutex
	masks    *wsproto.MaskSource // keys for frames to this peer; nil unless mask
	deadline time.Time
	// closeSent: weir sent its Close frame; nothing more is written.
	closeSent bool
	// msgOpen: a fragmented message is half-written; injected messages wait
	// in pending until it ends.
	msgOpen bool
	pending []byte
	scratch [wsproto.MaxHeaderSize + 125]byte

	closeRecv atomic.Bool // the peer's Close frame arrived
	dead      atomic.Bool // the connection failed or reached EOF
}

func newLeg(name string, c net.Conn, role wsproto.Role, mask bool, writeTimeout time.Duration) *leg {
	l := &leg{name: name, conn: c, fd: fdOf(c), rc: rawConnOf(c), role: role, mask: mask, writeTimeout: writeTimeout}
	l.vectored = l.fd >= 0
	if mask {
		l.masks = new(wsproto.MaskSource)
		l.masks.Seed()
	}
	return l
}

// writeLocked writes p with a write deadline. The deadline is moved only
// when less than half of it is left, which keeps timer updates off the
// per-frame path. wmu must be held.
func (l *leg) writeLocked(p []byte) error {
	if l.dead.Load() {
		return net.ErrClosed
	}
	l.moveDeadline()
	if _, err := l.conn.Write(p); err != nil {
		l.dead.Store(true)
		return err
	}
	return nil
}

// moveDeadline keeps the write deadline at least half the write timeout
// away. wmu must be held.
func (l *leg) moveDeadline() {
	if l.writeTimeout > 0 {
		now := time.Now()
		if l.deadline.Sub(now) < l.writeTimeout/2 {
			l.deadline = now.Add(l.writeTimeout)
			_ = l.conn.SetWriteDeadline(l.deadline)
		}
	}
}

// writeFrames writes whole frames built by a pump. msgOpen says whether the
// last of them leaves a fragmented message open. Frames are dropped once
// weir sent its Close.
func (l *leg) writeFrames(p []byte, msgOpen bool) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closeSent {
		return nil
	}
	if err := l.writeLocked(p); err != nil {
		return err
	}
	return l.framesWritten(msgOpen)
}

// writeFramesv is writeFrames with the frames in several buffers, written
// with one writev; v is consumed.
func (l *leg) writeFramesv(v *net.Buffers, msgOpen bool) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closeSent {
		return nil
	}
	if l.dead.Load() {
		return net.ErrClosed
	}
	l.moveDeadline()
	if _, err := v.WriteTo(l.conn); err != nil {
		l.dead.Store(true)
		return err
	}
	return l.framesWritten(msgOpen)
}

// framesWritten records whether a message is left open and, once none is,
// writes the injected messages waiting for it. wmu must be held.
func (l *leg) framesWritten(msgOpen bool) error {
	l.msgOpen = msgOpen
	if !msgOpen && len(l.pending) > 0 {
		err := l.writeLocked(l.pending)
		l.pending = nil
		return err
	}
	return nil
}

// writeRaw writes tunnel bytes.
func (l *leg) writeRaw(p []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.writeLocked(p)
}

// inject writes a whole message as one frame, or queues it behind a
// half-written fragmented message.
func (l *leg) inject(op ws.OpCode, payload []byte, limit int) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closeSent {
		return nil
	}
	if l.msgOpen {
		if len(l.pending)+len(payload) > limit {
			return errInjectQueueFull
		}
		l.pending = wsproto.AppendFrame(l.pending, op, true, payload, l.mask, nextKey(l.masks))
		return nil
	}
	return l.writeLocked(wsproto.AppendFrame(nil, op, true, payload, l.mask, nextKey(l.masks)))
}

// writeControl writes a ping or pong (payload ≤ 125 bytes).
func (l *leg) writeControl(op ws.OpCode, payload []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closeSent {
		return nil
	}
	return l.writeLocked(wsproto.AppendFrame(l.scratch[:0], op, true, payload, l.mask, nextKey(l.masks)))
}

// sendClose writes a Close frame with code and reason (no payload for 1005,
// "no status"), once. It reports whether this call sent it.
func (l *leg) sendClose(code ws.StatusCode, reason string) bool {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closeSent {
		return false
	}
	l.closeSent = true
	if l.dead.Load() {
		return false
	}
	var frame []byte
	if code == ws.StatusNoStatusRcvd {
		frame = wsproto.AppendFrame(l.scratch[:0], ws.OpClose, true, nil, l.mask, nextKey(l.masks))
	} else {
		frame = wsproto.AppendClose(l.scratch[:0], code, reason, l.mask, nextKey(l.masks))
	}
	// A Close must not wait behind a slow reader for long: the close timeout
	// bounds the whole handshake anyway.
	_ = l.writeLocked(frame)
	return true
}

// finished reports whether the leg needs nothing more: it failed, or both
// Close frames crossed.
func (l *leg) finished() bool {
	if l.dead.Load() {
		return true
	}
	l.wmu.Lock()
	sent := l.closeSent
	l.wmu.Unlock()
	return sent && l.closeRecv.Load()
}

// nextKey returns the next masking key, or zeros for a direction that is
// not masked (only frames toward the backend are): the ~330-byte key
// source exists only where it is used.
func nextKey(ms *wsproto.MaskSource) [4]byte {
	if ms == nil {
		return [4]byte{}
	}
	return ms.Next()
}
