//go:build wasip1

// Command quota limits what one session may send: at most max_messages
// messages and max_bytes bytes per window. The first message over the quota
// closes the session with 1008 (policy violation) and a reason the client
// sees, or, with on_exceed "drop", is dropped until the window ends.
//
// Each session's usage is kept in this instance's memory, keyed by the
// session id, and deleted when the session ends: the gateway pins a session
// to one instance, so no other instance ever needs it. See README.md for
// the configuration.
package main

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/weirproxy/weir/sdk/go/weir"
)

// usage is one session's count in its current window.
type usage struct {
	start    int64 // ns since the epoch; 0 before the first message
	messages int64
	bytes    int64
}

type quota struct {
	window      int64 // ns
	maxMessages int64 // 0: unlimited
	maxBytes    int64 // 0: unlimited
	drop        bool
	reason      string

	sessions map[uint32]*usage
	exceeded int32 // metric id
}

func (q *quota) Init(uint32) error {
	q.exceeded = weir.MetricDefine(weir.Counter, "quota_exceeded")
	if q.exceeded < 0 {
		return errors.New("quota: metric_define failed")
	}
	c := config{Window: "1m", OnExceed: "close", Reason: "quota exceeded"}
	if raw := weir.Config(); len(raw) > 0 {
		if err := c.parse(raw); err != nil {
			return err
		}
	}
	w, err := time.ParseDuration(c.Window)
	switch {
	case err != nil:
		return errors.New("quota: config: window: " + err.Error())
	case w <= 0:
		return errors.New("quota: config: window must be > 0")
	case c.MaxMessages < 0 || c.MaxBytes < 0:
		return errors.New("quota: config: max_messages and max_bytes must be >= 0")
	case c.MaxMessages == 0 && c.MaxBytes == 0:
		return errors.New("quota: config: set max_messages, max_bytes or both")
	case c.OnExceed != "close" && c.OnExceed != "drop":
		return errors.New("quota: config: on_exceed must be close or drop")
	case len(c.Reason) > 123 || !utf8.ValidString(c.Reason):
		// A close frame holds at most 123 bytes of UTF-8 reason.
		return errors.New("quota: config: reason must be UTF-8 of at most 123 bytes")
	}
	q.window, q.maxMessages, q.maxBytes = int64(w), c.MaxMessages, c.MaxBytes
	q.drop, q.reason = c.OnExceed == "drop", c.Reason
	return nil
}

func (q *quota) OnMessage(sid uint32, _ weir.Meta, p []byte) weir.Result {
	u := q.sessions[sid]
	if u == nil {
		u = &usage{}
		q.sessions[sid] = u
	}
	now := weir.NowNs()
	if u.start == 0 || now-u.start >= q.window {
		*u = usage{start: now}
	}
	n := int64(len(p))
	if (q.maxMessages > 0 && u.messages+1 > q.maxMessages) || (q.maxBytes > 0 && u.bytes+n > q.maxBytes) {
		weir.MetricAdd(q.exceeded, 1)
		if q.drop {
			return weir.Drop()
		}
		weir.CloseSession(sid, 1008, q.reason)
		return weir.CloseResult()
	}
	u.messages++
	u.bytes += n
	return weir.Continue(len(p))
}

// OnSessionEnd frees the session's usage: the instance's heap counts
// against its memory cap, and ids are never reused.
func (q *quota) OnSessionEnd(sid uint32) { delete(q.sessions, sid) }

func init() { weir.Register(&quota{sessions: map[uint32]*usage{}}) }

// main is never run: the module is a WASI reactor.
func main() {}
