//go:build wasip1

// Command tck is the Go guest of the weir conformance kit. It implements
// the behaviour of sdk/tck/README.md ("The guest") through package weir;
// the C, Rust and AssemblyScript guests beside it implement the same
// behaviour, and sdk/tck runs one case list against all four.
package main

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/weirproxy/weir/sdk/go/weir"
)

const (
	wordMax    = 32
	summaryMax = 64
	scratchLen = 1024
)

// session is the state the guest keeps keyed by sid (ABI §6).
type session struct {
	msgs       uint32
	word       []byte
	summary    []byte
	handshaken bool
}

type tck struct {
	sessions map[uint32]*session
	metrics  map[string]int32
	frames   bool
	scratch  []byte
}

var errInit = errors.New("tck: init failed")

func (t *tck) state(sid uint32) *session {
	s := t.sessions[sid]
	if s == nil {
		s = &session{}
		t.sessions[sid] = s
	}
	return s
}

func (t *tck) Init(configLen uint32) error {
	for _, m := range []struct {
		kind weir.MetricKind
		name string
	}{{weir.Counter, "counter"}, {weir.Gauge, "gauge"}, {weir.Histogram, "histogram"}} {
		id := weir.MetricDefine(m.kind, "tck_"+m.name)
		if id < 0 {
			return errInit
		}
		t.metrics[m.name] = id
	}
	config := weir.Config()
	if uint32(len(config)) != configLen {
		return errInit
	}
	if len(config) > scratchLen {
		// The other guests read the configuration into a 1 KiB scratch: a
		// longer one has no words for any of them.
		config = nil
	}
	for w := range bytes.SplitSeq(config, []byte(" ")) {
		switch string(w) {
		case "fail-init":
			// The Go SDK turns any error into weir_init's result 1.
			return errInit
		case "frames":
			t.frames = weir.EnableFeatures(weir.FeatureFrames)&weir.FeatureFrames != 0
		case "tick":
			weir.SetTick(10)
		}
	}
	weir.Log(weir.LogInfo, "tck init")
	return nil
}

func (t *tck) OnHandshake(sid uint32, props weir.Props) int32 {
	var records, multi int
	var path []byte
	props.Each(func(k, v []byte) bool {
		records++
		switch string(k) {
		case "request.path":
			path = v
		case "request.header.x-tck-multi":
			multi++
		}
		return true
	})
	s := t.state(sid)
	if len(path) > summaryMax {
		path = path[:summaryMax]
	}
	line := strconv.AppendInt(nil, int64(records), 10)
	line = append(append(append(line, ' '), path...), ' ')
	line = strconv.AppendInt(line, int64(multi), 10)
	s.summary = line[:min(len(line), summaryMax)]
	s.handshaken = true

	if n := weir.Property(sid, "request.header.x-tck-reject", t.scratch); n >= 0 {
		v := t.scratch[:min(int(n), len(t.scratch))]
		code, reason := split(v)
		weir.Reject(int(parseInt(code)), string(reason))
		return weir.HandshakeReject
	}
	if weir.Property(sid, "request.header.x-tck-reject-bare", nil) >= 0 {
		return weir.HandshakeReject
	}
	return weir.HandshakeContinue
}

func (t *tck) OnOpen(sid uint32) int32 {
	n := weir.Property(sid, "request.header.x-tck-open", t.scratch)
	if n < 0 {
		return 0
	}
	switch string(t.scratch[:min(int(n), len(t.scratch))]) {
	case "close":
		weir.CloseSession(sid, 4002, "closed at open")
	case "fail":
		return 1
	}
	return 0
}

func (t *tck) OnClose(_ uint32, code uint16, byPeer bool) {
	v := strconv.AppendInt(nil, int64(code), 10)
	if byPeer {
		v = append(v, " 1"...)
	} else {
		v = append(v, " 0"...)
	}
	weir.KVSet("last-close", v, 0)
}

func (t *tck) OnSessionEnd(sid uint32) {
	delete(t.sessions, sid)
	weir.KVIncr("ended", 1)
}

func (t *tck) OnTick() {
	weir.KVIncr("ticks", 1)
	for sid, s := range t.sessions {
		switch string(s.word) {
		case "tick-send":
			s.word = nil
			weir.SendMessage(sid, weir.NewMeta(weir.BackendToClient, weir.OpText), []byte("tick"))
		case "tick-close":
			s.word = nil
			weir.CloseSession(sid, 4004, "tick")
		}
	}
}

func (t *tck) OnDrain(sid uint32, deadlineMs uint32) int32 {
	weir.KVSet("drain-deadline", strconv.AppendUint(nil, uint64(deadlineMs), 10), 0)
	s := t.sessions[sid]
	if s == nil {
		return weir.DrainKeep
	}
	switch string(s.word) {
	case "drain-now":
		return weir.DrainCloseNow
	case "drain-close":
		weir.CloseSession(sid, 4003, "drain")
	}
	return weir.DrainKeep
}

// split cuts p at its first space: the word before it and what follows.
func split(p []byte) (word, rest []byte) {
	if i := bytes.IndexByte(p, ' '); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, nil
}

// parseInt reads an optional '-' and the digits that follow.
func parseInt(p []byte) int64 {
	neg := len(p) > 0 && p[0] == '-'
	if neg {
		p = p[1:]
	}
	var v int64
	for _, c := range p {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		return -v
	}
	return v
}

// code16 narrows a close code for the SDK's uint16: a number that does not
// fit becomes 0, which the host refuses as the ABI's i32 would be.
func code16(v int64) uint16 {
	if v < 0 || v > 0xFFFF {
		return 0
	}
	return uint16(v)
}

func meta(dst []byte, m weir.Meta) []byte {
	b2i := func(b bool) int64 {
		if b {
			return 1
		}
		return 0
	}
	dst = strconv.AppendUint(dst, uint64(m.Dir()), 10)
	dst = strconv.AppendUint(append(dst, ' '), uint64(m.Opcode()), 10)
	dst = strconv.AppendInt(append(dst, ' '), b2i(m.Fin()), 10)
	dst = strconv.AppendInt(append(dst, ' '), b2i(m.First()), 10)
	return strconv.AppendUint(append(dst, ' '), uint64(m.Seq()), 10)
}

// answer forwards out: the buffer's capacity is at least 4096 bytes, more
// than any answer but the echoed ones, which shrink.
func answer(out []byte) weir.Result { return weir.Forward(out) }

func answerInt(v int64) weir.Result { return answer(strconv.AppendInt(nil, v, 10)) }

func answerErr(status int64) weir.Result {
	return answer(strconv.AppendInt([]byte("ERR "), status, 10))
}

func (t *tck) OnMessage(sid uint32, m weir.Meta, p []byte) weir.Result {
	s := t.state(sid)
	s.msgs++
	if t.frames {
		return answer(meta(nil, m))
	}
	if m.Opcode() != weir.OpText {
		return weir.Continue(len(p))
	}
	cmd, arg := split(p)
	switch string(cmd) {
	case "echo":
		return weir.Forward(arg)
	case "upper":
		out := p[:0]
		for _, c := range arg {
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
		}
		return weir.Forward(out)
	case "cap":
		return answerInt(int64(cap(p)))
	case "grow":
		n := int(parseInt(arg))
		buf := weir.Buffer()
		for i := 0; i < n && i < len(buf); i++ {
			buf[i] = 'x'
		}
		return weir.Continue(n)
	case "drop":
		return weir.Drop()
	case "close-action":
		return weir.CloseResult()
	case "close", "close-sid":
		target := sid
		if string(cmd) == "close-sid" {
			var w []byte
			w, arg = split(arg)
			target = uint32(parseInt(w))
		}
		code, reason := split(arg)
		return answerInt(int64(weir.CloseSession(target, code16(parseInt(code)), string(reason))))
	case "send-back":
		return answerInt(int64(weir.SendMessage(sid, weir.NewMeta(weir.BackendToClient, weir.OpText), arg)))
	case "send-forward":
		return answerInt(int64(weir.SendMessage(sid, weir.NewMeta(weir.ClientToBackend, weir.OpBinary), arg)))
	case "send-sid":
		w, text := split(arg)
		return answerInt(int64(weir.SendMessage(uint32(parseInt(w)), weir.NewMeta(weir.BackendToClient, weir.OpText), text)))
	case "send-invalid":
		return answerInt(int64(weir.SendMessage(sid, weir.NewMeta(weir.BackendToClient, weir.OpText), []byte{0xff, 0xfe})))
	case "prop", "prop0", "prop-len":
		key := string(arg)
		target := sid
		if string(cmd) == "prop0" {
			target = 0
		}
		var dst []byte
		if string(cmd) != "prop-len" {
			dst = weir.Buffer()
		}
		n := weir.Property(target, key, dst)
		switch {
		case n < 0:
			return answerErr(int64(-n))
		case string(cmd) == "prop-len":
			return answerInt(int64(n))
		}
		return weir.Continue(int(n))
	case "hs":
		if !s.handshaken {
			return answer([]byte("-"))
		}
		return answer(s.summary)
	case "config":
		return answer(weir.Config())
	case "log":
		w, text := split(arg)
		level := int32(parseInt(w))
		weir.Log(level, string(text))
		if weir.LogEnabled(level) {
			return answer([]byte("1"))
		}
		return answer([]byte("0"))
	case "metric":
		w, v := split(arg)
		id, ok := t.metrics[string(w)]
		if !ok {
			id = -1
		}
		weir.MetricAdd(id, parseInt(v))
		return answerInt(int64(id))
	case "metric-define":
		w, name := split(arg)
		return answerInt(int64(weir.MetricDefine(weir.MetricKind(parseInt(w)), string(name))))
	case "kv-set":
		key, rest := split(arg)
		cas, val := split(rest)
		return answerInt(int64(weir.KVSet(string(key), val, uint32(parseInt(cas)))))
	case "kv-get":
		r := weir.KVGet(string(arg), t.scratch)
		if st := r.Err(); st != weir.OK {
			return answerErr(int64(st))
		}
		out := strconv.AppendUint(nil, uint64(r.CAS()), 10)
		out = strconv.AppendUint(append(out, ' '), uint64(r.Len()), 10)
		if r.Len() <= scratchLen {
			out = append(append(out, ' '), t.scratch[:r.Len()]...)
		}
		return answer(out)
	case "kv-incr":
		key, d := split(arg)
		v := weir.KVIncr(string(key), parseInt(d))
		if v == weir.KVIncrError {
			return answer([]byte("ERR"))
		}
		return answerInt(v)
	case "now":
		return answerInt(weir.NowNs())
	case "count":
		return answerInt(int64(s.msgs))
	case "state-set":
		s.word = append(s.word[:0], arg[:min(len(arg), wordMax)]...)
		return answer([]byte("ok"))
	case "state-get":
		return answer(s.word)
	case "sessions":
		return answerInt(int64(len(t.sessions)))
	case "sid":
		return answerInt(int64(sid))
	case "meta":
		return answer(meta(nil, m))
	case "features":
		return answerInt(int64(weir.EnableFeatures(weir.FeatureFrames)))
	case "reject":
		return answerInt(int64(weir.Reject(403, "no")))
	case "trap":
		panic("tck: trap")
	case "spin":
		for n := 0; ; n++ {
			spinSink = n
		}
	}
	return weir.Continue(len(p))
}

// spinSink keeps the spin loop from being optimised away.
var spinSink int

func init() {
	weir.Register(&tck{
		sessions: map[uint32]*session{},
		metrics:  map[string]int32{},
		scratch:  make([]byte, scratchLen),
	})
}

// main is never run: the module is a WASI reactor.
func main() {}
