package plugins

import (
	"context"
	"fmt"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// filter is one session's view of a plugin: the shard it is pinned to and
// its session id there. The filters contract calls it from one goroutine at
// a time; the shard's lock orders it against other sessions of the shard.
type filter struct {
	p    *Plugin
	sh   *shard
	inst *instance // the instance the session was pinned to
	sid  uint32
	s    *filters.Session
	seq  [2]uint32 // per direction

	// Guarded by sh.mu.
	opened, closing, ended bool
	closedByUs             bool
	closeReq               *closeRequest
	rejectReq              *rejectRequest

	// out holds outputs longer than the message's own payload; it is reused
	// by later messages of the session, which the contract allows
	// (Message.Payload is valid until OnMessage returns).
	out []byte
}

type closeRequest struct {
	code   uint16
	reason string
}

type rejectRequest struct {
	status int
	reason string
}

var (
	_ filters.Filter     = (*filter)(nil)
	_ filters.Handshaker = (*filter)(nil)
	_ filters.Opener     = (*filter)(nil)
	_ filters.Closer     = (*filter)(nil)
)

// lock takes the shard's lock and returns the session's instance, or
// ErrInstanceLost (lock released) when that instance failed.
func (f *filter) lock() (*instance, error) {
	f.sh.mu.Lock()
	in := f.sh.inst
	if in == nil || in != f.inst || f.ended {
		f.sh.unlock()
		return nil, ErrInstanceLost
	}
	return in, nil
}

// OnHandshake runs weir_on_handshake with the session's properties in the
// buffer. A guest rejection is a *filters.RejectError.
func (f *filter) OnHandshake(ctx context.Context, s *filters.Session) error {
	in, err := f.lock()
	if err != nil {
		return err
	}
	defer f.sh.unlock()
	if in.onHandshake == nil {
		return nil
	}
	props := f.p.appendProps(nil, f)
	if len(props) > f.p.host.opts.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes of handshake properties", ErrMessageTooLarge, len(props))
	}
	if err := f.sh.ensureBuffer(in, len(props)); err != nil {
		return err
	}
	in.mem.Write(in.bufPtr, props)
	in.stack[0], in.stack[1] = uint64(f.sid), uint64(len(props))
	f.rejectReq = nil
	if err := f.sh.call(in.onHandshake, hookHandshake, f); err != nil {
		return err
	}
	if r := f.rejectReq; r != nil {
		f.rejectReq = nil
		return &filters.RejectError{Status: r.status, Reason: r.reason}
	}
	switch res := int32(uint32(in.stack[0])); res {
	case 0:
		return nil
	case 1:
		return &filters.RejectError{Status: 403, Reason: "rejected by filter " + f.p.name}
	default:
		return fmt.Errorf("%w: weir_on_handshake returned %d", ErrBadResult, res)
	}
}

// OnOpen runs weir_on_open. A close requested by the guest is a
// *filters.CloseError.
func (f *filter) OnOpen(ctx context.Context, s *filters.Session) error {
	in, err := f.lock()
	if err != nil {
		return err
	}
	defer f.sh.unlock()
	f.opened = true
	if in.onOpen == nil {
		return nil
	}
	in.stack[0] = uint64(f.sid)
	if err := f.sh.call(in.onOpen, hookOpen, f); err != nil {
		return err
	}
	if r := f.closeReq; r != nil {
		f.closeReq = nil
		return &filters.CloseError{Code: r.code, Reason: r.reason}
	}
	if res := int32(uint32(in.stack[0])); res != 0 {
		return fmt.Errorf("%w: weir_on_open returned %d", ErrHookFailed, res)
	}
	return nil
}

// OnMessage is the hot path: copy the payload into the guest's buffer, one
// call with a reused stack, copy the result back into the message before the
// shard is unlocked. It allocates nothing unless the output is longer than
// the input (then once per session, reused after).
func (f *filter) OnMessage(ctx context.Context, s *filters.Session, m *filters.Message) (filters.Verdict, error) {
	if len(m.Payload) > f.p.host.opts.MaxMessageBytes {
		return filters.Continue, fmt.Errorf("%w: %d bytes", ErrMessageTooLarge, len(m.Payload))
	}
	in, err := f.lock()
	if err != nil {
		return filters.Continue, err
	}
	v, err := f.message(in, m)
	f.sh.unlock()
	return v, err
}

func (f *filter) message(in *instance, m *filters.Message) (filters.Verdict, error) {
	sh := f.sh
	n := len(m.Payload)
	if err := sh.ensureBuffer(in, n); err != nil {
		return filters.Continue, err
	}
	in.mem.Write(in.bufPtr, m.Payload)
	d := 0
	if m.Dir == filters.BackendToClient {
		d = 1
	}
	seq := f.seq[d]
	f.seq[d]++
	in.stack[0] = uint64(f.sid)
	in.stack[1] = packMeta(m.Dir, m.Op, m.Fin, m.Op != ws.OpContinuation, seq)
	in.stack[2] = uint64(n)
	if err := sh.call(in.onMessage, hookMessage, f); err != nil {
		return filters.Continue, err
	}
	res := in.stack[0]
	if r := f.closeReq; r != nil {
		f.closeReq = nil
		return filters.Close, &filters.CloseError{Code: r.code, Reason: r.reason}
	}
	switch action := uint32(res >> 32); action {
	case actionContinue:
		nl := uint32(res)
		if nl > in.bufCap || int64(nl) > int64(f.p.host.opts.MaxMessageBytes) {
			return filters.Continue, fmt.Errorf("%w: %d bytes (buffer %d, limit %d)",
				ErrOutputTooLarge, nl, in.bufCap, f.p.host.opts.MaxMessageBytes)
		}
		view, _ := in.mem.Read(in.bufPtr, nl) // inside memory: checked by ensureBuffer
		if int(nl) <= len(m.Payload) {
			// In place, never past len: the bytes after it belong to the
			// gateway.
			m.Payload = m.Payload[:nl]
			copy(m.Payload, view)
		} else {
			f.out = append(f.out[:0], view...)
			m.Payload = f.out
		}
		return filters.Continue, nil
	case actionDrop:
		return filters.Drop, nil
	case actionClose:
		f.closedByUs = true
		return filters.Close, &filters.CloseError{Code: 1008, Reason: "closed by filter " + f.p.name}
	default:
		return filters.Continue, fmt.Errorf("%w: weir_on_message action %d", ErrBadResult, action)
	}
}

// OnClose runs weir_on_close (for an opened session) and
// weir_on_session_end, then unpins the session. It is called exactly once.
func (f *filter) OnClose(ctx context.Context, s *filters.Session, code uint16) {
	sh := f.sh
	sh.mu.Lock()
	if f.ended {
		sh.mu.Unlock()
		return
	}
	f.closing = true
	in := sh.inst
	if in != nil && in == f.inst {
		if f.opened && in.onClose != nil {
			byPeer := uint64(1)
			if f.closedByUs {
				byPeer = 0
			}
			in.stack[0], in.stack[1], in.stack[2] = uint64(f.sid), uint64(code), byPeer
			_ = sh.call(in.onClose, hookClose, f)
		}
		if sh.inst == in && in.onEnd != nil {
			in.stack[0] = uint64(f.sid)
			_ = sh.call(in.onEnd, hookEnd, f)
		}
		if sh.inst == in {
			delete(in.sessions, f.sid)
		}
	}
	f.ended = true
	sh.load.Add(-1)
	sh.unlock()
	f.p.unref()
}
