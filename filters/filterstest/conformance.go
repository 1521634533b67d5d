package filterstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
)

// Option changes what Conformance checks.
type Option func(*conformance)

// WithMessages adds msgs to the messages Conformance runs through the filter
// (a few JSON, plain-text and binary messages in both directions). Give
// messages that reach the interesting paths of the filter: the ones it
// rewrites, drops or keeps state about.
func WithMessages(msgs ...filters.Message) Option {
	return func(c *conformance) { c.corpus = append(c.corpus, msgs...) }
}

// WithSession sets the session the filters run in (Conformance gives each
// one its own ID), for a filter that refuses TestSession at its handshake.
func WithSession(s filters.Session) Option {
	return func(c *conformance) { c.session = s }
}

// NonDeterministic is for filters whose output depends on time or chance
// (rate limits, sampling): Conformance then does not compare the outputs of
// two instances fed the same messages, which also means it cannot see a
// filter keep Payload.
func NonDeterministic() Option {
	return func(c *conformance) { c.nondeterministic = true }
}

// Concurrency of the concurrent_sessions check: sessions at once, and
// rounds of the corpus each one runs.
const (
	concurrentSessions = 8
	concurrentRounds   = 4
	largePayload       = 1 << 20
)

// Conformance checks that f builds filters meeting the contracts of package
// filters, each in a subtest:
//
//   - close_without_messages: OnClose right after NewFilter (a failed
//     handshake), and after the open hooks with no message.
//   - empty_payloads: nil and empty text and binary messages both ways.
//   - large_payloads: 1 MiB text (JSON and not) and binary messages.
//   - does_not_keep_payload: two instances see the same messages; one gets
//     each payload in a buffer that is scribbled over after the call. Their
//     decisions and outputs must agree, or the filter read a payload after
//     OnMessage returned.
//   - concurrent_sessions: many instances from the one factory used from
//     different goroutines at once agree with a lone instance (and, under
//     -race, share no unsynchronised state).
//   - fragments: for a factory whose filters stream (filters.Streamer),
//     messages split into frames.
//
// In every check the verdict must be Continue, Drop or Close, OnMessage must
// not fail, a close code must be one a peer may receive (RFC 6455 §7.4) with
// a reason of at most 123 bytes of UTF-8, and a whole text message the filter
// passes or sends must be valid UTF-8 when the input was.
func Conformance(t *testing.T, f filters.Factory, opts ...Option) {
	t.Helper()
	c := &conformance{factory: f, session: TestSession(), corpus: defaultCorpus()}
	for _, o := range opts {
		o(c)
	}
	checks := []struct {
		name string
		run  func(context.Context) error
	}{
		{"close_without_messages", c.closeWithoutMessages},
		{"empty_payloads", c.emptyPayloads},
		{"large_payloads", c.largePayloads},
		{"does_not_keep_payload", c.doesNotKeepPayload},
		{"concurrent_sessions", c.concurrentSessions},
		{"fragments", c.fragments},
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) {
			err := ch.run(t.Context())
			switch {
			case errors.Is(err, errNotApplicable):
				t.Skip(err)
			case err != nil:
				t.Error(err)
			}
		})
	}
}

// Conformance failures, each wrapped with the details.
var (
	errBadVerdict  = errors.New("unknown verdict")
	errFailed      = errors.New("OnMessage failed")
	errBadClose    = errors.New("close code or reason a peer must not receive")
	errBadUTF8     = errors.New("text message is not valid UTF-8")
	errKeptPayload = errors.New("outputs differ when the input buffer is reused: the filter reads Payload after OnMessage returned")
	errDiffers     = errors.New("a session's outputs differ from a lone session's")
	errNewFilter   = errors.New("NewFilter failed")

	errNotApplicable = errors.New("check does not apply")
)

type conformance struct {
	factory          filters.Factory
	session          filters.Session
	corpus           []filters.Message
	nondeterministic bool

	mu     sync.Mutex
	nextID uint64
}

// instance is one filter with its session, as the gateway would hold it.
type instance struct {
	c   *conformance
	s   *filters.Session
	rec *Recorder
	f   filters.Filter
}

// open builds a filter and, when hooks is set, runs its handshake and open
// hooks.
func (c *conformance) open(ctx context.Context, hooks bool) (*instance, error) {
	c.mu.Lock()
	c.nextID++
	base := c.session
	base.ID = c.nextID
	c.mu.Unlock()
	rec := &Recorder{}
	s := filters.NewSession(base, rec)
	f, err := c.factory.NewFilter(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNewFilter, err)
	}
	in := &instance{c: c, s: s, rec: rec, f: f}
	if hooks {
		if err := openFilter(ctx, f, s); err != nil {
			in.close(ctx, 1011)
			return nil, fmt.Errorf("%w (use WithSession to give it one it accepts)", err)
		}
	}
	return in, nil
}

func (in *instance) close(ctx context.Context, code uint16) {
	if c, ok := in.f.(filters.Closer); ok {
		c.OnClose(ctx, in.s, code)
	}
}

// feed runs msgs through fresh instances, starting a new one after a
// message that closes the session, and checks every result.
func (c *conformance) feed(ctx context.Context, msgs []filters.Message) ([]Result, error) {
	var in *instance
	defer func() {
		if in != nil {
			in.close(ctx, 1000)
		}
	}()
	results := make([]Result, 0, len(msgs))
	for i, msg := range msgs {
		if in == nil {
			var err error
			if in, err = c.open(ctx, true); err != nil {
				return results, err
			}
		}
		m := msg
		m.Payload = clone(msg.Payload)
		r := call(ctx, in.f, in.s, in.rec, &m)
		if err := check(msg, r); err != nil {
			return results, fmt.Errorf("message %d (%s): %w", i, describe(msg), err)
		}
		results = append(results, r)
		if r.Verdict == filters.Close || r.Close != nil {
			in.close(ctx, closeCode(r))
			in = nil
		}
	}
	return results, nil
}

func (c *conformance) closeWithoutMessages(ctx context.Context) error {
	for _, hooks := range []bool{false, true} {
		in, err := c.open(ctx, hooks)
		if err != nil {
			return err
		}
		in.close(ctx, 1000)
		_, closes := in.rec.take()
		for _, cc := range closes {
			if !validClose(cc.Code, cc.Reason) {
				return fmt.Errorf("%w: CloseSession(%d, %q) in OnClose", errBadClose, cc.Code, cc.Reason)
			}
		}
	}
	return nil
}

func (c *conformance) emptyPayloads(ctx context.Context) error {
	var msgs []filters.Message
	for _, dir := range []filters.Direction{filters.ClientToBackend, filters.BackendToClient} {
		for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
			msgs = append(msgs,
				filters.Message{Dir: dir, Op: op, Payload: nil, Fin: true},
				filters.Message{Dir: dir, Op: op, Payload: []byte{}, Fin: true})
		}
	}
	_, err := c.feed(ctx, msgs)
	return err
}

func (c *conformance) largePayloads(ctx context.Context) error {
	// Text: a JSON object holding a long string with multi-byte runes, and
	// plain text; binary: every byte value.
	var js bytes.Buffer
	js.WriteString(`{"data":"`)
	for js.Len() < largePayload-8 {
		js.WriteString("abcdéfgh ✓ ")
	}
	js.WriteString(`"}`)
	plain := strings.Repeat("lorem ipsum 123-45-6789 ", largePayload/24)
	bin := make([]byte, largePayload)
	for i := range bin {
		bin[i] = byte(i)
	}
	var msgs []filters.Message
	for _, dir := range []filters.Direction{filters.ClientToBackend, filters.BackendToClient} {
		msgs = append(msgs, Text(dir, js.String()), Text(dir, plain), Binary(dir, bin))
	}
	_, err := c.feed(ctx, msgs)
	return err
}

func (c *conformance) doesNotKeepPayload(ctx context.Context) error {
	if c.nondeterministic {
		return fmt.Errorf("%w: the filter is NonDeterministic", errNotApplicable)
	}
	var a, b *instance
	defer func() {
		for _, in := range []*instance{a, b} {
			if in != nil {
				in.close(ctx, 1000)
			}
		}
	}()
	size := 0
	for _, m := range c.corpus {
		size = max(size, len(m.Payload))
	}
	shared := make([]byte, size)
	var mb filters.Message
	for i, msg := range c.corpus {
		if a == nil {
			var err error
			if a, err = c.open(ctx, true); err != nil {
				return err
			}
			if b, err = c.open(ctx, true); err != nil {
				return err
			}
		}
		ma := msg
		ma.Payload = clone(msg.Payload)
		ra := call(ctx, a.f, a.s, a.rec, &ma)

		mb = msg
		mb.Payload = shared[:copy(shared, msg.Payload)]
		rb := call(ctx, b.f, b.s, b.rec, &mb)
		// What the gateway does next: reuse the buffer for other bytes.
		for j := range shared {
			shared[j] = 0xA5
		}

		// Compare before checking b: what a kept payload reads is scribble,
		// which may fail a check with a less telling error.
		if err := check(msg, ra); err != nil {
			return fmt.Errorf("message %d (%s): %w", i, describe(msg), err)
		}
		if err := same(ra, rb); err != nil {
			return fmt.Errorf("message %d (%s): %w: %w", i, describe(msg), errKeptPayload, err)
		}
		if ra.Verdict == filters.Close || ra.Close != nil {
			a.close(ctx, closeCode(ra))
			b.close(ctx, closeCode(rb))
			a, b = nil, nil
		}
	}
	return nil
}

func (c *conformance) concurrentSessions(ctx context.Context) error {
	var want []Result
	for range concurrentRounds {
		rs, err := c.feed(ctx, c.corpus)
		if err != nil {
			return err
		}
		want = append(want, rs...)
	}
	errs := make([]error, concurrentSessions)
	var wg sync.WaitGroup
	for g := range concurrentSessions {
		wg.Go(func() {
			var got []Result
			for range concurrentRounds {
				rs, err := c.feed(ctx, c.corpus)
				if err != nil {
					errs[g] = err
					return
				}
				got = append(got, rs...)
			}
			if c.nondeterministic {
				return
			}
			for i := range min(len(got), len(want)) {
				if err := same(want[i], got[i]); err != nil {
					errs[g] = fmt.Errorf("session %d, message %d: %w: %w", g, i, errDiffers, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *conformance) fragments(ctx context.Context) error {
	if st, ok := c.factory.(filters.Streamer); !ok || !st.Streaming() {
		return fmt.Errorf("%w: the filters do not stream", errNotApplicable)
	}
	var msgs []filters.Message
	for _, m := range c.corpus {
		if m.Fin && m.Op != ws.OpContinuation {
			msgs = append(msgs, Fragments(m, 3)...)
		}
	}
	_, err := c.feed(ctx, msgs)
	return err
}

// check returns why r is not something a filter may return for in.
func check(in filters.Message, r Result) error {
	switch r.Verdict {
	case filters.Continue, filters.Drop, filters.Close:
	default:
		return fmt.Errorf("%w: %v", errBadVerdict, r.Verdict)
	}
	if r.Err != nil && r.Close == nil {
		return fmt.Errorf("%w: %w", errFailed, r.Err)
	}
	if r.Close != nil && !validClose(r.Close.Code, r.Close.Reason) {
		return fmt.Errorf("%w: %v", errBadClose, r.Close)
	}
	inText := in.Op == ws.OpText && in.Fin && utf8.Valid(in.Payload)
	if r.Verdict == filters.Continue && inText && r.Op == ws.OpText && !utf8.Valid(r.Payload) {
		return fmt.Errorf("%w: the rewritten message", errBadUTF8)
	}
	for _, s := range r.Sent {
		if s.Op == ws.OpText && !utf8.Valid(s.Payload) {
			return fmt.Errorf("%w: a message sent with Session.Send", errBadUTF8)
		}
	}
	for _, cc := range r.SessionCloses {
		if !validClose(cc.Code, cc.Reason) {
			return fmt.Errorf("%w: CloseSession(%d, %q)", errBadClose, cc.Code, cc.Reason)
		}
	}
	return nil
}

// same returns how a and b differ, or nil.
func same(a, b Result) error {
	switch {
	case a.Verdict != b.Verdict:
		return fmt.Errorf("verdict %v vs %v", a.Verdict, b.Verdict)
	case (a.Close == nil) != (b.Close == nil) || a.Close != nil && *a.Close != *b.Close:
		return fmt.Errorf("close %v vs %v", a.Close, b.Close)
	case a.Verdict == filters.Continue && (a.Op != b.Op || !bytes.Equal(a.Payload, b.Payload)):
		return fmt.Errorf("output %s vs %s", preview(a.Payload), preview(b.Payload))
	case len(a.Sent) != len(b.Sent):
		return fmt.Errorf("%d vs %d messages sent", len(a.Sent), len(b.Sent))
	}
	for i := range a.Sent {
		if a.Sent[i].Dir != b.Sent[i].Dir || a.Sent[i].Op != b.Sent[i].Op || !bytes.Equal(a.Sent[i].Payload, b.Sent[i].Payload) {
			return fmt.Errorf("sent message %d: %s vs %s", i, preview(a.Sent[i].Payload), preview(b.Sent[i].Payload))
		}
	}
	return nil
}

// validClose reports whether a peer may receive code and reason in a Close
// frame (RFC 6455 §5.5.1, §7.4.1, §7.4.2; 1012-1014 are registered with IANA).
func validClose(code uint16, reason string) bool {
	okCode := code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
	return okCode && len(reason) <= 123 && utf8.ValidString(reason)
}

func describe(m filters.Message) string {
	return fmt.Sprintf("%v op=%d fin=%t %d bytes", m.Dir, m.Op, m.Fin, len(m.Payload))
}

func preview(b []byte) string {
	const n = 48
	if len(b) > n {
		return fmt.Sprintf("%q... (%d bytes)", b[:n], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// defaultCorpus is what Conformance sends when not told more: shapes most
// filters have an opinion on, both ways.
func defaultCorpus() []filters.Message {
	c2b, b2c := filters.ClientToBackend, filters.BackendToClient
	bin := make([]byte, 300)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	return []filters.Message{
		Text(c2b, `{"user":"ann","ssn":"123-45-6789","n":42,"tags":["a","b"]}`),
		Text(b2c, `hello world`),
		Binary(c2b, bin),
		Text(c2b, `[]`),
		Text(b2c, `{"nested":{"card":4111111111111111,"note":"call 555-0100"},"ok":true}`),
		Text(c2b, `"héllo wörld ✓ 🎉"`),
		Binary(b2c, []byte{0, 1, 2, 3}),
		Text(c2b, `not json {`),
		Text(b2c, `{"password":"hunter2","token":"eyJhbGciOi","email":"ann@example.com"}`),
		Text(c2b, `{"user":"bob","ssn":"987-65-4321","n":-1.5e3}`),
	}
}

// CheckNew calls info.New with raw, as configuration would, and fails t
// unless it returns either a factory or a *filters.ConfigError: a config
// block, whatever its bytes, never panics and never yields both or
// neither. It is the body of a native filter's config fuzz target.
func CheckNew(t testing.TB, info filters.Info, raw []byte) {
	t.Helper()
	if err := checkNew(info, raw); err != nil {
		t.Fatalf("%s: %v", info.Name, err)
	}
}

func checkNew(info filters.Info, raw []byte) error {
	fac, err := info.New(raw)
	var ce *filters.ConfigError
	if err != nil && !errors.As(err, &ce) {
		return fmt.Errorf("error %v is not a *filters.ConfigError", err)
	}
	if (err == nil) == (fac == nil) {
		return fmt.Errorf("factory %v with error %v", fac, err)
	}
	return nil
}
