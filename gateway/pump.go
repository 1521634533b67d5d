package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/internal/wsproto"
)

var (
	// errIdle: the pump's reader is empty; it parks on the poller.
	errIdle = errors.New("gateway: idle")
	// errInjectQueueFull: a filter injected more than a message's worth of
	// bytes behind a half-written message.
	errInjectQueueFull = errors.New("gateway: injected messages exceed the message size limit")
)

// writeError is a failed write to the pump's destination: the destination
// leg is lost, not the source.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// pump relays one direction of a session with the frame engine: it reads
// frames from src, validates them (RFC 6455 §5), answers control frames, runs
// the filter chain, and writes frames to dst.
//
// A pump has no goroutine of its own. In goroutine mode one goroutine runs
// serve for the session's life; in poll mode a goroutine runs serve only
// while bytes are buffered and then parks the pump on the poller, returning
// its buffers to the pools. All of the pump's state is therefore in this
// struct, including a frame half-read when the bytes ran out.
type pump struct {
	s        *session
	src, dst *leg
	dir      filters.Direction
	task     func() // p.woken, made once: what wake hands to a worker
	v        wsproto.Validator
	masks    *wsproto.MaskSource // keys for frames written to dst; nil unless dst.mask
	br       *bufio.Reader       // nil while parked
	w        *workBuf            // nil while parked
	out      []byte              // frames not yet written to dst: w.out, or grown past it
	// span: whole frames not yet written to dst that lie in br's buffer,
	// re-masked where needed (spanFrame); never pending with out.
	span []byte

	// The frame being read.
	h         ws.Header
	inFrame   bool
	remaining int64
	offset    int  // masking offset into the frame's payload
	emitted   bool // a part of this frame was written already
	skip      bool // the frame's payload is read and dropped (data after Close)
	// partial: relay what is buffered of a frame now, as a fragment, rather
	// than wait for its rest (the pump is about to park).
	partial bool

	// Output state: the opcode of the message being written and whether it
	// is still open (fragmented).
	msgOp   ws.OpCode
	outOpen bool

	// Message mode: the chain sees this direction, so messages are
	// reassembled (up to the limit) before the chain runs.
	filtered bool
	msg      []byte
	m        filters.Message // the message handed to the chain
	inject   []injected      // queued by filters during OnMessage, same direction

	limiter *tokenBucket // client→backend message rate, or nil

	// Liveness, read by the session's keepalive tick: when bytes last
	// arrived from src and when a data frame last did (unix nanoseconds).
	// They are stamped once per batch of reads, not per frame: time.Now
	// measured as 7 % of the engine's CPU when called per frame.
	now      int64 // time of the current batch
	lastRecv atomic.Int64
	lastData atomic.Int64
	pingSent atomic.Int64 // unix nanoseconds of an unanswered ping to src, or 0

	// raw: a tunnel direction, which relays bytes as they come without
	// looking at them (relay: tunnel); splice: with splice(2) through pipe,
	// held only while bytes move (splice_linux.go).
	raw    bool
	splice bool
	pipe   *pipe

	// lingerUntil: the read deadline linger left on src (unix
	// nanoseconds), or 0 when none is set.
	lingerUntil int64

	tok     atomic.Uint64 // poller token, 0 when not registered
	running atomic.Bool
	parks   atomic.Uint32 // times the pump parked (tests order themselves by it)
	frames  *atomic.Int64
	bytes   *atomic.Int64
	// Counts not yet added to frames and bytes: the frame engine publishes
	// them once per write (publish), not per frame, which kept two atomic
	// adds on shared counters off the per-frame path.
	nFrames, nBytes int64
}

type injected struct {
	op      ws.OpCode
	payload []byte
}

// workBuf is what a frame pump needs only while it runs, taken from a pool
// when it wakes and given back when it parks, so that an idle session does
// not carry it.
type workBuf struct {
	out  [outSize]byte                       // frames batched for one write
	hdr  [wsproto.MaxHeaderSize]byte         // ReadHeader's scratch
	ctl  [ws.MaxControlFramePayloadSize]byte // a control frame's payload
	whdr [wsproto.MaxHeaderSize]byte         // emitDirect's frame header
	iov  [3][]byte                           // emitDirect's write vector: here,
	bufs net.Buffers                         // so that a writev allocates nothing
}

// serve processes frames while bytes are available. In poll mode it returns
// errIdle when the reader is empty (after flushing); otherwise it blocks for
// more. Any other error ends this direction (see session.pumpDone).
func (p *pump) serve(poll bool) error {
	if p.raw {
		if p.splice {
			return p.serveSplice(poll)
		}
		return p.serveRaw(poll)
	}
	p.stamp()
	for {
		if p.br.Buffered() == 0 {
			if err := p.flush(); err != nil {
				return err
			}
			if poll {
				return errIdle
			}
			p.noLinger()
			if _, err := p.br.Peek(1); err != nil {
				return err
			}
			p.stamp()
		}
		if !p.inFrame {
			// A header not all buffered yet takes a read, which moves the
			// reader's bytes: the pending span goes out first, and the
			// frame cannot join a span (its header will not be in place).
			n, ok := wsproto.HeaderLen(p.br)
			whole := ok && p.br.Buffered() >= n
			if !whole {
				if len(p.span) > 0 {
					if err := p.flush(); err != nil {
						return err
					}
				}
				p.noLinger()
			}
			var buffered []byte // the frame and what follows it, for spanFrame
			var h ws.Header
			var err error
			if whole {
				// Decoded where it lies: HeaderLen has judged its length.
				b, _ := p.br.Peek(p.br.Buffered())
				if !p.filtered {
					buffered = b
				}
				h, err = wsproto.DecodeHeader(b[:n])
				_, _ = p.br.Discard(n)
			} else {
				h, err = wsproto.ReadHeader(p.br, p.w.hdr[:])
			}
			if err != nil {
				return err
			}
			if err := p.v.CheckHeader(h); err != nil {
				return err
			}
			if h.OpCode.IsControl() {
				if err := p.control(h); err != nil {
					return err
				}
				continue
			}
			if err := p.beginData(h); err != nil {
				return err
			}
			if hlen := len(buffered) - p.br.Buffered(); buffered != nil && p.remaining > 0 &&
				int64(p.br.Buffered()) >= p.remaining && !p.skip && h.Masked == p.dst.mask {
				if err := p.spanFrame(buffered[:hlen+int(p.remaining)], hlen); err != nil {
					return err
				}
				continue
			}
			if p.remaining == 0 {
				if err := p.endFrame(); err != nil {
					return err
				}
			}
			continue
		}
		n := p.br.Buffered()
		if n == 0 {
			continue
		}
		if int64(n) < p.remaining && p.waitWhole() {
			// The rest of a frame that fits in the reader is on its way:
			// relay it whole once it is here rather than as two fragments
			// in two writes (see waitWhole).
			if err := p.flush(); err != nil {
				return err
			}
			if poll {
				return errIdle
			}
			p.noLinger()
			if _, err := p.br.Peek(n + 1); err != nil {
				return err
			}
			p.stamp()
			continue
		}
		if int64(n) > p.remaining {
			n = int(p.remaining)
		}
		chunk, _ := p.br.Peek(n)
		if err := p.dataChunk(chunk, int64(n) == p.remaining); err != nil {
			return err
		}
		_, _ = p.br.Discard(n)
		p.remaining -= int64(n)
		if p.remaining == 0 {
			if err := p.endFrame(); err != nil {
				return err
			}
		}
	}
}

// spanFrame relays a whole data frame that is in the reader's buffer
// (frame, its header hlen bytes long) without copying it: the frame is
// validated and, toward the backend, re-masked where it lies (weir's key
// written over the client's), then added to the span of such frames that
// flush writes straight from the reader. Nothing else changes in the
// frame: weir declines extensions, so RSV bits are zero, and lengths are in
// their shortest form, as AppendHeader would write them.
func (p *pump) spanFrame(frame []byte, hlen int) error {
	payload := frame[hlen:]
	if p.h.Masked {
		key := nextKey(p.masks)
		if p.v.InText() {
			ws.Cipher(payload, p.h.Mask, 0)
			if err := p.v.CheckPayload(p.h, payload); err != nil {
				return err
			}
			ws.Cipher(payload, key, 0)
		} else { // nothing reads a binary payload: one pass
			k := key
			for j := range k {
				k[j] ^= p.h.Mask[j]
			}
			ws.Cipher(payload, k, 0)
		}
		copy(frame[hlen-4:hlen], key[:])
	} else if err := p.v.CheckPayload(p.h, payload); err != nil {
		return err
	}
	// out and the span are never both pending: what is in out came first.
	if len(p.out) > 0 {
		if err := p.flush(); err != nil {
			return err
		}
	}
	if n := len(p.span); n > 0 && (n == cap(p.span) || &p.span[:n+1][n] != &frame[0]) {
		// Not right after the span (a control frame came between).
		if err := p.flush(); err != nil {
			return err
		}
	}
	if len(p.span) == 0 {
		p.span = frame
	} else {
		p.span = p.span[:len(p.span)+len(frame)]
	}
	_, _ = p.br.Discard(len(payload))
	p.remaining = 0
	p.emitted = true
	p.outOpen = !p.h.Fin
	p.nBytes += int64(len(payload))
	return p.endFrame()
}

// waitWhole reports whether serve should wait for the rest of the current
// frame before relaying it: in streaming mode, when the whole frame fits in
// the reader and the pump is not relaying partial frames to park (see
// burst). A frame cut by a read otherwise goes out as two fragments in two
// writes, which measured as up to half the writes of a busy session.
func (p *pump) waitWhole() bool {
	return !p.filtered && !p.skip && !p.partial && p.remaining <= int64(p.br.Size())
}

// serveRaw relays a tunnel direction: whatever the reader holds is written
// to dst as it is, straight from the reader's buffer. It has serve's
// contract: in poll mode errIdle once the reader is empty.
func (p *pump) serveRaw(poll bool) error {
	p.stamp()
	for {
		n := p.br.Buffered()
		if n == 0 {
			if poll {
				return errIdle
			}
			if _, err := p.br.Peek(1); err != nil {
				return err
			}
			p.stamp()
			continue
		}
		b, _ := p.br.Peek(n)
		p.lastData.Store(p.now)
		if err := p.dst.writeRaw(b); err != nil {
			return &writeError{err}
		}
		_, _ = p.br.Discard(n)
		p.bytes.Add(int64(n))
	}
}

// stamp records that bytes arrived from src: the peer is alive, and any
// ping to it is answered by them.
func (p *pump) stamp() {
	p.now = time.Now().UnixNano()
	p.lastRecv.Store(p.now)
	if p.pingSent.Load() != 0 {
		p.pingSent.Store(0)
	}
}

// control handles a ping, pong or close frame (payload ≤ 125 bytes, checked
// by the validator before any byte of it was read).
func (p *pump) control(h ws.Header) error {
	// The payload may need a read, which would move a pending span.
	if len(p.span) > 0 {
		if err := p.flush(); err != nil {
			return err
		}
	}
	n := int(h.Length)
	if p.br.Buffered() < n {
		p.noLinger()
	}
	b, err := p.br.Peek(n)
	if err != nil {
		return err
	}
	payload := p.w.ctl[:n]
	copy(payload, b)
	_, _ = p.br.Discard(n)
	if h.Masked {
		ws.Cipher(payload, h.Mask, 0)
	}
	if err := p.v.CheckPayload(h, payload); err != nil {
		return err
	}
	if err := p.v.EndFrame(h); err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpPing:
		// weir terminates the protocol on each leg: it answers pings itself
		// and never forwards them.
		if !p.src.closeRecv.Load() {
			if err := p.src.writeControl(ws.OpPong, payload); err != nil {
				return err
			}
		}
	case ws.OpPong:
	case ws.OpClose:
		code, reason, err := wsproto.ParseClose(payload)
		if err != nil {
			return err
		}
		// Frames read before the Close go out before it is relayed.
		if err := p.flush(); err != nil {
			return err
		}
		p.s.peerClosed(p.src, code, string(reason))
	}
	return nil
}

func (p *pump) beginData(h ws.Header) error {
	p.h = h
	p.inFrame = true
	p.remaining = h.Length
	p.offset = 0
	p.emitted = false
	// RFC 6455 §5.5.1: after its Close the peer sends no more data; what
	// it sends anyway is read and dropped, never forwarded.
	p.skip = p.src.closeRecv.Load()
	if p.skip {
		return nil
	}
	if p.lastData.Load() != p.now {
		p.lastData.Store(p.now)
	}
	if h.OpCode == ws.OpContinuation {
		return nil
	}
	if p.limiter != nil && !p.limiter.allow(time.Now()) {
		return &filters.CloseError{Code: uint16(ws.StatusPolicyViolation), Reason: "message rate limit exceeded"}
	}
	p.msgOp = h.OpCode
	if p.filtered {
		p.msg = p.msg[:0]
		// A whole message in one frame: size the buffer once rather than
		// growing it chunk by chunk (which also overshot the retained size
		// and re-grew it for every 64 KiB message). The validator checked
		// the length against the limits before this.
		if h.Fin && h.Length > int64(cap(p.msg)) {
			p.msg = make([]byte, 0, h.Length)
		}
	}
	return nil
}

// dataChunk handles the next bytes of a data frame's payload; they alias the
// reader's buffer and are unmasked in place.
func (p *pump) dataChunk(chunk []byte, last bool) error {
	offset := p.offset
	p.offset += len(chunk)
	direct := !p.skip && !p.filtered && len(chunk) >= directMin && p.dst.vectored
	if direct && p.h.Masked && !p.v.InText() {
		// Nothing reads a binary payload on its way through: emitDirect
		// turns the peer's mask into weir's in one pass.
		return p.emitDirect(chunk, p.h.Fin && last, offset)
	}
	if p.h.Masked {
		ws.Cipher(chunk, p.h.Mask, offset)
	}
	if err := p.v.CheckPayload(p.h, chunk); err != nil {
		return err
	}
	switch {
	case p.skip:
	case p.filtered:
		p.msg = append(p.msg, chunk...)
	case direct:
		return p.emitWhole(chunk, p.h.Fin && last)
	default:
		// Streaming: the bytes go out as they came, one frame per chunk. An
		// intermediary may re-fragment (RFC 6455 §5.4) when no extension is
		// negotiated, and doing so means a frame is never half-written, so
		// control frames can always be slipped in between.
		if err := p.emit(chunk, p.h.Fin && last); err != nil {
			return err
		}
		p.emitted = true
	}
	return nil
}

// directMin is the smallest chunk written straight from the reader's buffer
// (emitDirect) rather than copied into out. Below it, batching small frames
// into one write is worth the copy.
const directMin = 4 << 10

// emitWhole is emitDirect for a plain payload (not under the peer's mask).
func (p *pump) emitWhole(payload []byte, fin bool) error { return p.emitDirect(payload, fin, -1) }

// emitDirect writes one frame whose payload is chunk, which aliases the
// reader's buffer and is masked there for dst when it must be: one writev
// of what out holds, the header and the chunk, with no copy. Used for
// large chunks to plain TCP destinations, where the copy into out measured
// as most of the frame engine's user time at 64 KiB.
//
// srcOffset ≥ 0 means chunk is still masked with the frame's key from that
// offset; the two masks are then applied in one pass.
func (p *pump) emitDirect(chunk []byte, fin bool, srcOffset int) error {
	op := ws.OpContinuation
	if !p.outOpen {
		op = p.msgOp
	}
	key := nextKey(p.masks)
	hdr := wsproto.AppendHeader(p.w.whdr[:0], ws.Header{Fin: fin, OpCode: op, Masked: p.dst.mask, Mask: key, Length: int64(len(chunk))})
	var k [4]byte // what chunk[i] is XORed with at i%4
	if p.dst.mask {
		k = key
	}
	if srcOffset >= 0 {
		for j := range k {
			k[j] ^= p.h.Mask[(srcOffset+j)%4]
		}
	}
	if k != [4]byte{} {
		ws.Cipher(chunk, k, 0)
	}
	w := p.w
	w.iov = [3][]byte{p.pending(), hdr, chunk}
	w.bufs = w.iov[:]
	err := p.dst.writeFramesv(&w.bufs, !fin)
	w.iov, w.bufs = [3][]byte{}, nil
	p.out, p.span = p.out[:0], nil
	p.outOpen = !fin
	if err != nil {
		return &writeError{err}
	}
	p.emitted = true
	p.nBytes += int64(len(chunk))
	p.publish()
	return nil
}

func (p *pump) endFrame() error {
	if err := p.v.EndFrame(p.h); err != nil {
		return err
	}
	p.inFrame = false
	switch {
	case p.skip:
		return nil
	case p.filtered:
		if p.h.Fin {
			return p.filterMessage()
		}
		return nil
	}
	if !p.emitted { // an empty frame
		if err := p.emit(nil, p.h.Fin); err != nil {
			return err
		}
	}
	if p.h.Fin {
		p.nFrames++
	}
	return nil
}

// emit appends one frame of the current message to out, flushing first when
// it would not fit.
func (p *pump) emit(payload []byte, fin bool) error {
	op := ws.OpContinuation
	if !p.outOpen {
		op = p.msgOp
	}
	need := wsproto.MaxHeaderSize + len(payload)
	if len(p.span) > 0 || len(p.out) > 0 && len(p.out)+need > cap(p.out) {
		if err := p.flush(); err != nil {
			return err
		}
	}
	p.out = wsproto.AppendFrame(p.out, op, fin, payload, p.dst.mask, nextKey(p.masks))
	p.outOpen = !fin
	p.nBytes += int64(len(payload))
	return nil
}

// pending returns the frames waiting to be written: the span or out (only
// one of them holds any).
func (p *pump) pending() []byte {
	if len(p.span) > 0 {
		return p.span
	}
	return p.out
}

// flush writes the pending frames to dst.
func (p *pump) flush() error {
	b := p.pending()
	if len(b) == 0 {
		return nil
	}
	err := p.dst.writeFrames(b, p.outOpen)
	p.out, p.span = p.out[:0], nil
	if err != nil {
		return &writeError{err}
	}
	p.publish()
	return nil
}

// publish adds the frames and bytes relayed since the last call to the
// metrics.
func (p *pump) publish() {
	if p.nFrames != 0 {
		p.frames.Add(p.nFrames)
		p.nFrames = 0
	}
	if p.nBytes != 0 {
		p.bytes.Add(p.nBytes)
		p.nBytes = 0
	}
}

// filterMessage runs a whole message through the chain and emits what it
// decides. The gateway re-checks the result: a filter cannot make weir send
// an invalid frame (SECURITY-CASES W-04).
func (p *pump) filterMessage() error {
	// The message lives in the pump: a local would escape to the heap
	// through the chain's interface calls, once per message.
	p.m = filters.Message{Dir: p.dir, Op: p.msgOp, Payload: p.msg, Fin: true}
	m := &p.m
	v, err := p.s.runChain(p, m)
	p.nFrames++
	switch v {
	case filters.Continue:
		if int64(len(m.Payload)) > p.s.route.maxMessage {
			return &filters.CloseError{Code: uint16(ws.StatusInternalServerError), Reason: "filter output too large"}
		}
		if m.Op == ws.OpText && !utf8.Valid(m.Payload) {
			return &filters.CloseError{Code: uint16(ws.StatusInternalServerError), Reason: "filter output is not UTF-8"}
		}
		p.msgOp = m.Op
		// A large message goes out like a large streamed chunk (emitDirect),
		// when that does not mean masking a buffer weir does not own.
		emit := p.emit
		if len(m.Payload) >= directMin && p.dst.vectored && (!p.dst.mask || len(p.msg) > 0 && &m.Payload[0] == &p.msg[0]) {
			emit = p.emitWhole
		}
		if err := emit(m.Payload, true); err != nil {
			return err
		}
	case filters.Drop:
	default:
		var ce *filters.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		return &filters.CloseError{Code: uint16(ws.StatusInternalServerError), Reason: "filter failed"}
	}
	for i := range p.inject {
		p.msgOp = p.inject[i].op
		if err := p.emit(p.inject[i].payload, true); err != nil {
			return err
		}
	}
	p.inject = p.inject[:0]
	// Do not let one huge message pin a huge buffer for the session's life.
	p.m = filters.Message{}
	if cap(p.msg) > maxRetainedMessage {
		p.msg = nil
	} else {
		p.msg = p.msg[:0]
	}
	return nil
}

// maxRetainedMessage is the largest reassembly buffer a session keeps
// between messages.
const maxRetainedMessage = 64 << 10

// tokenBucket limits a rate of events; it is used by one goroutine at a
// time (the pump's).
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

func (b *tokenBucket) allow(now time.Time) bool {
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// String is for logs.
func (p *pump) String() string { return fmt.Sprintf("%s→%s", p.src.name, p.dst.name) }
