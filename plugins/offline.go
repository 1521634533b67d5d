package plugins

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// OfflineInput is one line of RunOffline's input: a message, or a close that
// ends the current session.
type OfflineInput struct {
	// Dir is where the message comes from: "client" or "backend".
	Dir string `json:"dir"`
	// Type is "text" or "binary".
	Type string `json:"type"`
	Data string `json:"data"`
	// Base64 says Data is base64-encoded (required for binary data that is
	// not valid UTF-8).
	Base64 bool `json:"base64"`
	// Close, when set, ends the session with this close code; the next
	// message starts a new session.
	Close *uint16 `json:"close,omitempty"`
}

// OfflineOutput is one line of RunOffline's output.
type OfflineOutput struct {
	// Session numbers the sessions of the run, from 1.
	Session int `json:"session"`
	// Action is "forward", "drop", "inject", "close" (the filter or the
	// gateway ends the session), "reject" (at the handshake), "error" (the
	// filter failed; weir closes with 1011 unless the filter is configured
	// on_error: skip) or "end" (the input closed the session).
	Action string `json:"action"`
	// Dir and Type describe a forwarded or injected message; Dir names where
	// it travels from, as in the input ("client" travels to the backend).
	Dir    string `json:"dir,omitempty"`
	Type   string `json:"type,omitempty"`
	Data   string `json:"data,omitempty"`
	Base64 bool   `json:"base64,omitempty"`
	Code   uint16 `json:"code,omitempty"`
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// maxOfflineLineSlack is added to the longest message line: a message is
// at most MaxMessageBytes, base64 makes it 4/3 larger.
const maxOfflineLineSlack = 4096

// RunOffline runs the filter wasm (with config) over the JSON-lines message
// stream in, one session at a time, and writes what weir would do with each
// message to out as JSON lines (see OfflineInput and OfflineOutput). It is
// the engine of `weir filter test`. Malformed input stops the run with an
// error naming the line; filter failures are reported in the output.
func RunOffline(ctx context.Context, h *Host, wasm, config []byte, in io.Reader, out io.Writer) (err error) {
	p, err := h.Load(ctx, "offline", wasm, config)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Release(context.Background())) }()
	r := &offlineRun{ctx: ctx, p: p, enc: json.NewEncoder(out)}
	defer r.end(1000, false)

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), h.opts.MaxMessageBytes*4/3+maxOfflineLineSlack)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var msg OfflineInput
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&msg); err != nil {
			return fmt.Errorf("plugins: offline input line %d: %w", line, err)
		}
		if msg.Close != nil {
			r.end(*msg.Close, true)
			continue
		}
		m, err := msg.message()
		if err != nil {
			return fmt.Errorf("plugins: offline input line %d: %w", line, err)
		}
		if err := r.message(m); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("plugins: offline input: %w", err)
	}
	return nil
}

func (in *OfflineInput) message() (*filters.Message, error) {
	m := &filters.Message{Fin: true}
	switch in.Dir {
	case "client":
		m.Dir = filters.ClientToBackend
	case "backend":
		m.Dir = filters.BackendToClient
	default:
		return nil, fmt.Errorf("dir %q: want client or backend", in.Dir)
	}
	switch in.Type {
	case "text", "":
		m.Op = ws.OpText
	case "binary":
		m.Op = ws.OpBinary
	default:
		return nil, fmt.Errorf("type %q: want text or binary", in.Type)
	}
	if in.Base64 {
		b, err := base64.StdEncoding.DecodeString(in.Data)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		m.Payload = b
	} else {
		m.Payload = []byte(in.Data)
	}
	return m, nil
}

// offlineRun holds the current session of a run.
type offlineRun struct {
	ctx    context.Context
	p      *Plugin
	enc    *json.Encoder
	n      int // sessions started
	s      *filters.Session
	f      filters.Filter
	sender *offlineSender
	werr   error
}

// offlineSender records what the filter asks the session to do.
type offlineSender struct {
	sent   []OfflineOutput
	closed *filters.CloseError
}

func (o *offlineSender) Send(dir filters.Direction, op ws.OpCode, payload []byte) error {
	o.sent = append(o.sent, payloadOutput("inject", dir, op, payload))
	return nil
}

func (o *offlineSender) CloseSession(code uint16, reason string) {
	if o.closed == nil {
		o.closed = &filters.CloseError{Code: code, Reason: reason}
	}
}

func payloadOutput(action string, dir filters.Direction, op ws.OpCode, payload []byte) OfflineOutput {
	o := OfflineOutput{Action: action, Dir: "client", Type: "text"}
	if dir == filters.BackendToClient {
		o.Dir = "backend"
	}
	if op == ws.OpBinary {
		o.Type = "binary"
	}
	if op == ws.OpText && utf8.Valid(payload) {
		o.Data = string(payload)
	} else {
		o.Data, o.Base64 = base64.StdEncoding.EncodeToString(payload), true
	}
	return o
}

func (r *offlineRun) emit(o OfflineOutput) {
	o.Session = r.n
	if err := r.enc.Encode(o); err != nil && r.werr == nil {
		r.werr = err
	}
}

// begin starts a session: filter, handshake, open. It reports false when the
// session did not open (the reason is in the output).
func (r *offlineRun) begin() bool {
	r.n++
	r.sender = &offlineSender{}
	r.s = filters.NewSession(filters.Session{
		ID:     uint64(r.n),
		Route:  "offline",
		Remote: netip.MustParseAddrPort("127.0.0.1:50000"),
		Host:   "localhost",
		Path:   "/",
	}, r.sender)
	f, err := r.p.NewFilter(r.ctx, r.s)
	if err != nil {
		r.emit(OfflineOutput{Action: "error", Error: err.Error()})
		return false
	}
	r.f = f
	if err := f.(filters.Handshaker).OnHandshake(r.ctx, r.s); err != nil {
		var rej *filters.RejectError
		if errors.As(err, &rej) {
			r.emit(OfflineOutput{Action: "reject", Status: rej.Status, Reason: rej.Reason})
		} else {
			r.emit(OfflineOutput{Action: "error", Error: err.Error()})
		}
		r.finish(1011)
		return false
	}
	if err := f.(filters.Opener).OnOpen(r.ctx, r.s); err != nil {
		r.failed(err)
		return false
	}
	return !r.flush()
}

// message runs one input message through the session, starting one first
// when needed.
func (r *offlineRun) message(m *filters.Message) error {
	if r.f == nil && !r.begin() {
		return r.werr
	}
	v, err := r.f.OnMessage(r.ctx, r.s, m)
	var ce *filters.CloseError
	switch {
	case errors.As(err, &ce):
		r.flushSent()
		r.closed(ce)
	case err != nil:
		r.failed(err)
	case v == filters.Continue:
		r.emit(payloadOutput("forward", m.Dir, m.Op, m.Payload))
		r.flush()
	case v == filters.Drop:
		r.emit(OfflineOutput{Action: "drop"})
		r.flush()
	default:
		r.flushSent()
		r.closed(&filters.CloseError{Code: 1008, Reason: "closed by filter"})
	}
	return r.werr
}

func (r *offlineRun) flushSent() {
	for _, o := range r.sender.sent {
		r.emit(o)
	}
	r.sender.sent = r.sender.sent[:0]
}

// flush prints injected messages and a requested close; it reports whether
// the session ended.
func (r *offlineRun) flush() bool {
	r.flushSent()
	if c := r.sender.closed; c != nil {
		r.closed(c)
		return true
	}
	return false
}

func (r *offlineRun) failed(err error) {
	r.flushSent()
	r.emit(OfflineOutput{Action: "error", Error: err.Error()})
	r.closed(&filters.CloseError{Code: 1011, Reason: "filter failed"})
}

func (r *offlineRun) closed(ce *filters.CloseError) {
	r.emit(OfflineOutput{Action: "close", Code: ce.Code, Reason: ce.Reason})
	r.finish(ce.Code)
}

// end closes the current session on behalf of the input.
func (r *offlineRun) end(code uint16, report bool) {
	if r.f == nil {
		return
	}
	if report {
		r.emit(OfflineOutput{Action: "end", Code: code})
	}
	r.finish(code)
}

func (r *offlineRun) finish(code uint16) {
	if r.f != nil {
		r.f.(filters.Closer).OnClose(r.ctx, r.s, code)
	}
	r.f = nil
}
