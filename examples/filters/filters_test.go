package filters_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/filters/filterstest"
)

// ---- pii-redact-c ---------------------------------------------------------

func TestExamplePIIRedact(t *testing.T) {
	wasm := piiRedact(t)
	cases := []struct {
		config string
		in     string
		want   string
	}{
		{"", "mail ann@example.com now", "mail ***@example.com now"},
		{"", "a.b+c@mail.example.org, x@y.io", "*****@mail.example.org, *@y.io"},
		{"", "not addresses: a@b, x@ y.com, @example.com, ann@", "not addresses: a@b, x@ y.com, @example.com, ann@"},
		{"", "✓ ann@example.com ✓ ünïcødé", "✓ ***@example.com ✓ ünïcødé"},
		{"", "card 4111 1111 1111 1111 exp 12/29", "card **** **** **** 1111 exp 12/29"},
		{"", "4111-1111-1111-1111", "****-****-****-1111"},
		{"", "4111111111111111", "************1111"},
		{"", "amex 378282246310005.", "amex ***********0005."},
		{"", "order 12 4012888888881881 shipped", "order 12 ************1881 shipped"},
		{"", "4111111111111111 and 5555555555554444", "************1111 and ************4444"},
		// Luhn fails, too short, too long, a phone number: left alone.
		{"", "4111111111111112 411111111111 41111111111111111111 +1 555 123 4567",
			"4111111111111112 411111111111 41111111111111111111 +1 555 123 4567"},
		{`{"keep_domain":false}`, "ann@mail.example.com", "***@****.*******.***"},
		{`{"keep_last":0,"mask":"#"}`, "4111 1111 1111 1111", "#### #### #### ####"},
		{`{"email":false}`, "ann@example.com 4111111111111111", "ann@example.com ************1111"},
		{`{"cards":false}`, "ann@example.com 4111111111111111", "***@example.com 4111111111111111"},
		{` { "mask" : "\u0026" , "keep_last" : 2 } `, "ann@x.io 4111111111111111", "&&&@x.io &&&&&&&&&&&&&&11"},
	}
	h, _ := newHost(t)
	for _, c := range cases {
		s := mustOpen(t, load(t, h, wasm, c.config), nil)
		if got := s.forward(c.in); got != c.want {
			t.Errorf("config %s, %q:\n got %q\nwant %q", c.config, c.in, got, c.want)
		}
	}

	// Both directions are redacted (the gateway's directions: chooses
	// which the filter sees); binary messages pass unchanged.
	s := mustOpen(t, load(t, h, wasm, ""), nil)
	if o := s.message(filters.BackendToClient, ws.OpText, "to bob@example.com"); o.out != "to ***@example.com" {
		t.Errorf("backend text: %v", o)
	}
	if o := s.message(filters.ClientToBackend, ws.OpBinary, "bob@example.com"); o.out != "bob@example.com" || o.verdict != filters.Continue {
		t.Errorf("binary: %v", o)
	}
	before := metric(h, "pii_masked")
	s.forward("a@b.io 4111111111111111 c@d.io")
	if got := metric(h, "pii_masked") - before; got != 3 {
		t.Errorf("pii_masked grew by %d, want 3", got)
	}
}

func TestExamplePIIRedactBadConfig(t *testing.T) {
	badConfigs(t, piiRedact(t), map[string]string{
		`[]`:                      "config must be a JSON object",
		`null`:                    "config must be a JSON object",
		`{"mask":"ab"}`:           "mask must be one printable ASCII character",
		`{"mask":"1"}`:            "mask must be one printable ASCII character",
		`{"mask":"\u00e9"}`:       "mask must be one printable ASCII character",
		`{"keep_last":5}`:         "keep_last must be an integer from 0 to 4",
		`{"keep_last":-1}`:        "keep_last must be an integer from 0 to 4",
		`{"email":"yes"}`:         "email must be true or false",
		`{"emails":true}`:         "unknown key",
		`{"email":true,}`:         "bad or unknown key",
		`{"email":true} x`:        "trailing bytes",
		`{"email":true`:           "expected ',' or '}'",
		strings.Repeat(" ", 2000): "config larger than 1024 bytes",
	})
}

// ---- json-allowlist-rust --------------------------------------------------

func TestExampleJSONAllowlist(t *testing.T) {
	wasm := jsonAllowlist(t)
	h, _ := newHost(t)
	strip := mustOpen(t, load(t, h, wasm, `{"allow":["type","text","room"]}`), nil)
	for _, c := range []struct{ in, want string }{
		{`{"type":"chat","text":"hi"}`, `{"type":"chat","text":"hi"}`},
		{`{"type":"chat","token":"s3cret","text":"hi","admin":true}`, `{"type":"chat","text":"hi"}`},
		{` { "token" : 1 } `, `{}`},
		{`{}`, `{}`},
		// Values are copied as they were, nested objects and all.
		{`{"text" : {"a":[1, 2, {"token":null}]}, "x":"\"}"}`, `{"text" : {"a":[1, 2, {"token":null}]}}`},
		// Escaped keys are compared decoded.
		{`{"r\u006fom":"lobby","\u0074oken":"t"}`, `{"r\u006fom":"lobby"}`},
	} {
		if got := strip.forward(c.in); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	if got := metric(h, "json_allowlist_stripped"); got != 5 {
		t.Errorf("json_allowlist_stripped = %d, want 5", got)
	}

	// Not a JSON object: closes by default.
	for _, in := range []string{`[1]`, `"s"`, `{"type":1,}`, `{"type":1} {}`, `{"type":01}`, `{"type":"\x"}`, ``, `{"a":[1,2}`} {
		s := mustOpen(t, load(t, h, wasm, `{"allow":["type"]}`), nil)
		s.closed(in, 1008, "json-allowlist: not a JSON object")
	}

	drop := mustOpen(t, load(t, h, wasm, `{"allow":["type"],"on_violation":"drop","on_invalid":"drop"}`), nil)
	for in, want := range map[string]filters.Verdict{
		`{"type":"a"}`:          filters.Continue,
		`{"type":"a","x":1}`:    filters.Drop,
		`not json`:              filters.Drop,
		`{"type":{"deep":[]}} `: filters.Continue,
	} {
		if o := drop.client(in); o.verdict != want || o.err != nil || o.close != nil {
			t.Errorf("drop mode, %s: %v, want %v", in, o, want)
		}
	}

	closing := mustOpen(t, load(t, h, wasm, `{"allow":["type"],"on_violation":"close"}`), nil)
	closing.forward(`{"type":"a"}`)
	closing.closed(`{"type":"a","x":1}`, 1008, "json-allowlist: field not allowed")

	// max_depth counts the message's own object.
	deep := mustOpen(t, load(t, h, wasm, `{"allow":["a"],"max_depth":2}`), nil)
	deep.forward(`{"a":[1]}`)
	deep.closed(`{"a":[[1]]}`, 1008, "json-allowlist: not a JSON object")

	// Binary messages: pass by default, or drop or close.
	for config, want := range map[string]string{
		`{"allow":[]}`:                     "forward \x00\x01",
		`{"allow":[],"on_binary":"drop"}`:  "drop",
		`{"allow":[],"on_binary":"close"}`: "close 1008 json-allowlist: binary messages are not allowed",
	} {
		s := mustOpen(t, load(t, h, wasm, config), nil)
		if o := s.message(filters.ClientToBackend, ws.OpBinary, "\x00\x01"); o.String() != want {
			t.Errorf("%s: binary message: %v, want %s", config, o, want)
		}
	}
}

func TestExampleJSONAllowlistBadConfig(t *testing.T) {
	badConfigs(t, jsonAllowlist(t), map[string]string{
		``:                                    "config must be a JSON object with an allow list",
		`{}`:                                  "needs an allow list",
		`{"allow":"type"}`:                    "allow must be an array",
		`{"allow":[1]}`:                       "allow must be an array",
		`{"allow":["a"],"on_violation":"x"}`:  "on_violation must be strip, drop or close",
		`{"allow":["a"],"on_invalid":"pass"}`: "on_invalid must be drop or close",
		`{"allow":["a"],"on_binary":1}`:       "on_binary must be pass, drop or close",
		`{"allow":["a"],"max_depth":0}`:       "max_depth must be an integer from 1 to 256",
		`{"allow":["a"],"max_depth":1.5}`:     "max_depth must be an integer from 1 to 256",
		`{"allow":["a"],"max_depth":300}`:     "max_depth must be an integer from 1 to 256",
		`{"allow":["a"],"deny":["b"]}`:        "unknown config key",
		`{"allow":["a"]`:                      "config is not valid JSON",
		`{"allow":["a"]} []`:                  "config is not valid JSON",
		`{"allow":[` + strings.Repeat(`"a",`, 64) + `"a"]}`: "at most 64 strings",
		strings.Repeat(" ", 5000):                           "config larger than 4096 bytes",
	})
}

// ---- quota-go -------------------------------------------------------------

func TestExampleQuota(t *testing.T) {
	wasm := quota(t)
	h, _ := newHost(t)
	const reason = "quota exceeded: 3 messages or 100 bytes per hour"
	p := load(t, h, wasm, `{"window":"1h","max_messages":3,"max_bytes":100,"reason":"`+reason+`"}`)

	// Two sessions on one instance keep their own counts.
	a, b := mustOpen(t, p, nil), mustOpen(t, p, nil)
	for i := range 3 {
		a.forward(fmt.Sprint("a", i))
		if i < 2 {
			b.forward(fmt.Sprint("b", i))
		}
	}
	a.closed("a3", 1008, reason)
	b.forward("b2")
	b.closed("b3", 1008, reason)
	if got := metric(h, "quota_exceeded"); got != 2 {
		t.Errorf("quota_exceeded = %d, want 2", got)
	}

	// Every message counts, whichever direction the gateway gives the
	// filter; and bytes count too.
	c := mustOpen(t, p, nil)
	c.forward(strings.Repeat("x", 60))
	if o := c.message(filters.BackendToClient, ws.OpBinary, strings.Repeat("y", 30)); o.verdict != filters.Continue {
		t.Fatalf("backend message: %v", o)
	}
	c.closed(strings.Repeat("z", 11), 1008, reason)
}

// With on_exceed: drop, messages over the quota are dropped until the
// window ends; then the session may send again.
func TestExampleQuotaDrop(t *testing.T) {
	h, _ := newHost(t)
	long := mustOpen(t, load(t, h, quota(t), `{"window":"1h","max_messages":1,"on_exceed":"drop"}`), nil)
	long.forward("first")
	for range 3 {
		if o := long.client("again"); o.verdict != filters.Drop || o.err != nil || o.close != nil {
			t.Fatalf("over the quota: %v, want drop", o)
		}
	}

	short := mustOpen(t, load(t, h, quota(t), `{"window":"50ms","max_messages":1,"on_exceed":"drop"}`), nil)
	short.forward("first")
	var last outcome
	if !pollUntil(10*time.Second, func() bool {
		last = short.client("again")
		return last.verdict == filters.Continue
	}) {
		t.Fatalf("no message forwarded in a later window; last: %v", last)
	}
}

func TestExampleQuotaBadConfig(t *testing.T) {
	badConfigs(t, quota(t), map[string]string{
		`{}`:                                    "set max_messages, max_bytes or both",
		`{"window":"0s","max_messages":1}`:      "window must be > 0",
		`{"window":"soon","max_messages":1}`:    "window: time: invalid duration",
		`{"max_messages":-1}`:                   "must be >= 0",
		`{"max_messages":1.5}`:                  "max_messages must be an integer",
		`{"max_messages":1,"on_exceed":"warn"}`: "on_exceed must be close or drop",
		`{"max_messages":1,"windw":"1s"}`:       "unknown key",
		`{"max_messages":1,"reason":"` + strings.Repeat("r", 124) + `"}`: "at most 123 bytes",
		`{"max_messages":1,}`: "config is not valid JSON",
		`{"window":"1\m"}`:    "config is not valid JSON",
	})
}

// ---- tag-as ---------------------------------------------------------------

func TestExampleTag(t *testing.T) {
	wasm := tag(t)
	h, _ := newHost(t)
	p := load(t, h, wasm, "")
	ann := mustOpen(t, p, map[string][]string{"x-user": {"ann"}})
	bob := mustOpen(t, p, map[string][]string{"x-user": {"bob"}})
	for _, c := range []struct {
		s        *session
		in, want string
	}{
		{ann, `{"msg":"hi"}`, `{"msg":"hi","user":"ann","seq":1}`},
		{ann, ` {} `, ` {"user":"ann","seq":2}`},
		{bob, `{"msg":"hello"}`, `{"msg":"hello","user":"bob","seq":1}`},
		{ann, `{"a":[1,{"b":"ü"}],"n":-1.5e3}  `, `{"a":[1,{"b":"ü"}],"n":-1.5e3,"user":"ann","seq":3}`},
		// Not JSON: passes unchanged by default, and is not counted.
		{ann, `hello`, `hello`},
		{ann, `{"msg":"x"}`, `{"msg":"x","user":"ann","seq":4}`},
	} {
		if got := c.s.forward(c.in); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	// Messages from the backend and binary messages pass unchanged.
	if o := ann.message(filters.BackendToClient, ws.OpText, `{"msg":"to ann"}`); o.out != `{"msg":"to ann"}` {
		t.Errorf("backend message: %v", o)
	}
	if o := ann.message(filters.ClientToBackend, ws.OpBinary, `{}`); o.out != `{}` {
		t.Errorf("binary message: %v", o)
	}
	// A client may not set the fields itself, however it spells them.
	ann.closed(`{"msg":"x","us\u0065r":"eve"}`, 1008, "tag: message carries a reserved field")
	bob.closed(`{"seq":0}`, 1008, "tag: message carries a reserved field")
	if got := metric(h, "tag_tagged"); got != 5 {
		t.Errorf("tag_tagged = %d, want 5", got)
	}

	// The user value is escaped into the JSON; without a user, null.
	odd := mustOpen(t, p, map[string][]string{"x-user": {`a"b\c ü`}})
	var m map[string]any
	if err := json.Unmarshal([]byte(odd.forward(`{}`)), &m); err != nil || m["user"] != `a"b\c ü` || m["seq"] != 1.0 {
		t.Errorf("escaped user: %v %v", m, err)
	}
	if got := mustOpen(t, p, nil).forward(`{"m":1}`); got != `{"m":1,"user":null,"seq":1}` {
		t.Errorf("no user: %s", got)
	}
}

func TestExampleTagConfig(t *testing.T) {
	wasm := tag(t)
	h, _ := newHost(t)
	p := load(t, h, wasm, `{"user_from":"meta.sub","user_field":"from","seq_field":"n","require_user":true,"on_invalid":"close"}`)
	// The user comes from policy metadata here; without it the handshake
	// is refused.
	s := filters.NewSession(filters.Session{ID: 1, Meta: map[string]string{"sub": "carol"}}, &filterstest.Recorder{})
	f, err := p.NewFilter(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer f.(filters.Closer).OnClose(t.Context(), s, 1000)
	if err := f.(filters.Handshaker).OnHandshake(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	m := &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Payload: []byte(`{"m":1}`), Fin: true}
	if _, err := f.OnMessage(t.Context(), s, m); err != nil || string(m.Payload) != `{"m":1,"from":"carol","n":1}` {
		t.Errorf("tagged: %s %v", m.Payload, err)
	}
	m = &filters.Message{Dir: filters.ClientToBackend, Op: ws.OpText, Payload: []byte(`nope`), Fin: true}
	var ce *filters.CloseError
	if _, err := f.OnMessage(t.Context(), s, m); !errors.As(err, &ce) || ce.Code != 1008 || ce.Reason != "tag: not a JSON object" {
		t.Errorf("invalid message: %v", err)
	}

	for headers, want := range map[string]*filters.RejectError{
		"":                          {Status: 401, Reason: "tag: missing user"},
		strings.Repeat("u", 65):     {Status: 400, Reason: "tag: invalid user"},
		"bad\x01user":               {Status: 400, Reason: "tag: invalid user"},
		"\xff\xfe":                  {Status: 400, Reason: "tag: invalid user"},
		"\xed\xa0\x80":              {Status: 400, Reason: "tag: invalid user"}, // an encoded surrogate
		strings.Repeat("ü", 32):     nil,                                        // 64 bytes
		"bad\x7fuser":               {Status: 400, Reason: "tag: invalid user"},
		"\xf0\x9f\x98\x80 emoji ok": nil,
	} {
		p := load(t, h, wasm, `{"require_user":true}`)
		var hdr map[string][]string
		if headers != "" {
			hdr = map[string][]string{"x-user": {headers}}
		}
		_, err := open(t, p, hdr)
		var rej *filters.RejectError
		switch {
		case want == nil && err != nil:
			t.Errorf("user %q: %v, want accepted", headers, err)
		case want != nil && (!errors.As(err, &rej) || *rej != *want):
			t.Errorf("user %q: %v, want %v", headers, err, want)
		}
	}

	drop := mustOpen(t, load(t, h, wasm, `{"on_invalid":"drop","max_depth":2}`), nil)
	drop.forward(`{"a":[]}`)
	if o := drop.client(`{"a":[[]]}`); o.verdict != filters.Drop {
		t.Errorf("too deep: %v, want drop", o)
	}
}

// The session table is bounded by max_sessions; ended sessions free their
// slot, and the sequence numbers of the others survive the churn.
func TestExampleTagSessionTable(t *testing.T) {
	h, _ := newHost(t)
	p := load(t, h, tag(t), `{"max_sessions":4}`)
	live := make([]*session, 0, 4)
	seqs := make([]int, 0, 4)
	send := func(i int) {
		t.Helper()
		seqs[i]++
		want := fmt.Sprintf(`{"user":null,"seq":%d}`, seqs[i])
		if got := live[i].forward(`{}`); got != want {
			t.Fatalf("session %d: got %s, want %s", i, got, want)
		}
	}
	for i := range 4 {
		live, seqs = append(live, mustOpen(t, p, nil)), append(seqs, 0)
		send(i)
	}
	_, err := open(t, p, nil)
	var rej *filters.RejectError
	if !errors.As(err, &rej) || rej.Status != 503 {
		t.Fatalf("fifth session: %v, want 503", err)
	}
	// Churn: session 0 lives throughout while the others end and start
	// again. Session ids only grow, so new ids keep landing on the home
	// slot of session 0 and of each other, and every removal shifts a
	// probe chain; everybody's count must hold.
	for round := range 300 {
		i := 1 + (round*5)%3
		live[i].end(1000)
		live[i], seqs[i] = mustOpen(t, p, nil), 0
		for j := range live {
			send(j)
		}
	}
}

// A message near the gateway's default limit runs through each filter.
func TestExampleLargeMessages(t *testing.T) {
	h, _ := newHost(t)
	big := strings.Repeat(`"x":"4111 1111 1111 1111 ann@example.com ünï",`, 20000) // about 1 MiB
	obj := `{` + big + `"last":1}`

	pii := mustOpen(t, load(t, h, piiRedact(t), ""), nil)
	if got := pii.forward(obj); len(got) != len(obj) || strings.Contains(got, "4111 1111") || strings.Contains(got, "ann@") {
		t.Errorf("pii-redact: %d bytes, card or address left", len(got))
	}
	allow := mustOpen(t, load(t, h, jsonAllowlist(t), `{"allow":["last"]}`), nil)
	if got := allow.forward(obj); got != `{"last":1}` {
		t.Errorf("json-allowlist: %.80s", got)
	}
	tagged := mustOpen(t, load(t, h, tag(t), ""), map[string][]string{"x-user": {"ann"}})
	if got := tagged.forward(obj); !strings.HasSuffix(got, `"last":1,"user":"ann","seq":1}`) {
		t.Errorf("tag: ...%s", got[max(0, len(got)-80):])
	}
}
