package tck

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/plugins"
)

// Shorthands of the table.
const (
	toBackend = filters.ClientToBackend
	toClient  = filters.BackendToClient
	text      = ws.OpText
	binary    = ws.OpBinary
	cont      = ws.OpContinuation
)

// cases is the kit: every language must pass every case with the same
// outputs. The comments say which hooks and host functions a case
// observes; the coverage check makes sure none of the ABI is left out.
func cases() []tcase {
	big := strings.Repeat("ab", 128<<10) // 256 KiB: the buffer must grow
	return []tcase{
		// weir_init, get_config, log, metric_define; the config_len passed
		// to weir_init equals what get_config returns (else the load fails).
		{name: "init", config: "hello tck", steps: []step{
			open("a"),
			send("a", "config").outputs("hello tck"),
			logged(slog.LevelInfo, "tck init"),
			metric("tck_counter", plugins.Counter, 0, 0),
			metric("tck_gauge", plugins.Gauge, 0, 0),
			metric("tck_histogram", plugins.Histogram, 0, 0),
		}},
		// A non-zero weir_init result fails the load.
		{name: "init_fails", config: "fail-init", loadErr: plugins.ErrInitFailed},
		// A configuration longer than the guest's 1 KiB scratch: get_config
		// returns its length without writing it, so it has no words (the
		// fail-init here is not seen), and the message hook reads it whole.
		{name: "large_config", config: "fail-init " + strings.Repeat("c", 2000), steps: []step{
			open("a"),
			send("a", "config").outputs("fail-init " + strings.Repeat("c", 2000)),
		}},
		// An empty configuration: get_config returns 0.
		{name: "empty_config", steps: []step{
			open("a"),
			send("a", "config").outputs(""),
		}},

		// weir_on_handshake: the property records in the buffer (one per
		// header value) and get_property. The session has 6 fixed records
		// (plugin.name, plugin.version, request.path, request.host,
		// request.query, route.name), source.address, 3 header values and
		// 1 metadata key.
		{name: "handshake_props", steps: []step{
			open("a", "x-tck-multi", "a", "x-tck-multi", "b", "x-user", "ann"),
			send("a", "hs").outputs("11 /ws 2"),
			create("b"),
			send("b", "hs").outputs("-"),
		}},
		// Properties larger than the first buffer: weir_buffer grows before
		// the handshake hook.
		{name: "handshake_large_props", steps: []step{
			open("a", "x-big", strings.Repeat("h", 20000)),
			send("a", "hs").outputs("9 /ws 0"),
			send("a", "prop-len request.header.x-big").outputs("20000"),
		}},
		// reject with a status and reason, then weir_on_session_end for the
		// refused session.
		{name: "handshake_reject", steps: []step{
			open("a"),
			handshake("b", "x-tck-reject", "451 go away").rejects(451, "go away"),
			send("a", "sessions").outputs("2"),
			end("b", 1006),
			send("a", "sessions").outputs("1"),
			send("a", "kv-incr ended 0").outputs("1"),
			// No weir_on_close for a session that never opened.
			send("a", "kv-get last-close").outputs("ERR 1"),
		}},
		// A bare 1 from weir_on_handshake answers 403.
		{name: "handshake_reject_bare", steps: []step{
			handshake("b", "x-tck-reject-bare", "1").rejects(403, "rejected by filter "+pluginName),
		}},
		// weir_on_open closing the session with close_session.
		{name: "open_close", steps: []step{
			handshake("a", "x-tck-open", "close").succeeds(),
			openHook("a").closes(4002, "closed at open"),
			end("a", 4002),
			open("b"),
			send("b", "kv-get last-close").outputs("1 6 4002 0"),
		}},
		// A non-zero weir_on_open result fails the hook.
		{name: "open_fail", steps: []step{
			handshake("a", "x-tck-open", "fail").succeeds(),
			openHook("a").fails(plugins.ErrHookFailed),
		}},

		// weir_on_message and the buffer: in-place edits, shorter and longer
		// outputs, the capacity the SDK reports.
		{name: "echo", steps: []step{
			open("a"),
			send("a", "echo hello, world").outputs("hello, world"),
			send("a", "echo").outputs(""),
			send("a", "").outputs(""),
			send("a", "no such command").outputs("no such command"),
		}},
		{name: "upper", steps: []step{
			open("a"),
			send("a", "upper ünïcödé stays ok").outputs("üNïCöDé STAYS OK"),
		}},
		{name: "binary_unchanged", steps: []step{
			open("a"),
			sendFrame("a", toBackend, binary, true, "echo \x00\xff").outputs("echo \x00\xff"),
			sendFrame("a", toClient, binary, true, "drop").outputs("drop"),
		}},
		// cap ≥ len + len/4 + 1024, rounded up to 4 KiB (ABI §4).
		{name: "buffer_capacity", steps: []step{
			open("a"),
			send("a", "cap").outputs("4096"),
			send("a", "grow 4096").outputs(strings.Repeat("x", 4096)),
			send("a", "cap "+strings.Repeat(".", 10000)).outputs("16384"),
			send("a", "grow 16384").outputs(strings.Repeat("x", 16384)),
		}},
		{name: "large_message", steps: []step{
			open("a"),
			send("a", "upper "+big).outputs(strings.ToUpper(big)),
			sendFrame("a", toClient, binary, true, big).outputs(big),
		}},
		// weir_buffer answering 0 when memory cannot grow: the hook fails,
		// the instance and its sessions live on, and smaller messages still
		// pass through the old buffer.
		{name: "buffer_out_of_memory", memoryLimit: 4 << 20, maxMessage: 8 << 20, steps: []step{
			open("a"),
			open("b"),
			send("a", "echo "+strings.Repeat("m", 6<<20)).fails(plugins.ErrNoBuffer),
			send("a", "count").outputs("1"), // the failed message never reached the guest
			send("b", "echo alive").outputs("alive"),
		}},
		// The meta of whole messages: direction, opcode, FIN, FIRST, and seq
		// counted per direction.
		{name: "meta", steps: []step{
			open("a"),
			send("a", "meta").outputs("0 1 1 1 0"),
			send("a", "meta").outputs("0 1 1 1 1"),
			sendFrame("a", toClient, text, true, "meta").outputs("1 1 1 1 0"),
			send("a", "meta").outputs("0 1 1 1 2"),
		}},
		// enable_features(FRAMES) at init: single frames, with their meta.
		{name: "frames", config: "frames", steps: []step{
			streaming(true),
			open("a"),
			sendFrame("a", toBackend, text, false, "x").outputs("0 1 0 1 0"),
			sendFrame("a", toBackend, cont, false, "x").outputs("0 0 0 0 1"),
			sendFrame("a", toBackend, cont, true, "x").outputs("0 0 1 0 2"),
			sendFrame("a", toClient, binary, true, "x").outputs("1 2 1 1 0"),
		}},
		// enable_features outside weir_init changes nothing.
		{name: "features_outside_init", steps: []step{
			streaming(false),
			open("a"),
			send("a", "features").outputs("0"),
		}},

		// The actions.
		{name: "drop", steps: []step{
			open("a"),
			send("a", "drop").drops(),
		}},
		{name: "close_action", steps: []step{
			open("a"),
			send("a", "close-action").closes(1008, "closed by filter "+pluginName),
			end("a", 1008),
			open("b"),
			send("b", "kv-get last-close").outputs("1 6 1008 0"),
		}},

		// close_session for this session (during the hook), with a bad code,
		// and weir_on_close's by_peer = 0 after it.
		{name: "close_session", steps: []step{
			open("a"),
			open("b"),
			send("a", "close 999 bad code").outputs("2"),
			send("a", "close 4001 "+strings.Repeat("r", 124)).outputs("2"),
			send("a", "close 4001 bye now").closes(4001, "bye now"),
			end("a", 4001),
			send("b", "kv-get last-close").outputs("1 6 4001 0"),
		}},
		// close_session for another session: it closes after the hook.
		{name: "close_other_session", steps: []step{
			open("a"),
			open("b"),
			send("b", "sid").outputs("2"),
			send("a", "close-sid 2 4005 other").outputs("0"),
			closed("b", 4005, "other"),
			send("a", "close-sid 99 4005 none").outputs("1"),
		}},
		// weir_on_close when the peer closed: by_peer = 1.
		{name: "close_by_peer", steps: []step{
			open("a"),
			open("b"),
			end("b", 1001),
			send("a", "kv-get last-close").outputs("1 6 1001 1"),
		}},

		// send_message to the client, to the backend, to another session,
		// and with invalid UTF-8 or an unknown session.
		{name: "send_back", steps: []step{
			open("a"),
			send("a", "send-back pong").outputs("0"),
			sent("a", toClient, text, "pong"),
			send("a", "send-back").outputs("0"),
			sent("a", toClient, text, ""),
		}},
		{name: "send_forward", steps: []step{
			open("a"),
			send("a", "send-forward data").outputs("0"),
			sent("a", toBackend, binary, "data"),
		}},
		{name: "send_other_session", steps: []step{
			open("a"),
			open("b"),
			send("a", "send-sid 2 hi b").outputs("0"),
			sent("b", toClient, text, "hi b"),
			send("a", "send-sid 99 nobody").outputs("1"),
		}},
		{name: "send_invalid_utf8", steps: []step{
			open("a"),
			send("a", "send-invalid").outputs("2"),
		}},

		// get_property: every key of ABI §5.3, sid 0, and the length alone.
		{name: "properties", steps: []step{
			open("a", "x-user", "ann", "accept", "a", "accept", "b"),
			send("a", "prop request.path").outputs("/ws"),
			send("a", "prop request.host").outputs("chat.example.com"),
			send("a", "prop request.query").outputs("room=1"),
			send("a", "prop request.header.x-user").outputs("ann"),
			send("a", "prop request.header.accept").outputs("a, b"),
			send("a", "prop request.header.nope").outputs("ERR 1"),
			send("a", "prop source.address").outputs("192.0.2.7:41000"),
			send("a", "prop route.name").outputs("chat"),
			send("a", "prop session.subprotocol").outputs("chat.v1"),
			send("a", "prop meta.tenant").outputs("acme"),
			send("a", "prop meta.nope").outputs("ERR 1"),
			send("a", "prop plugin.name").outputs(pluginName),
			withPlugin("plugin.version", func(p *plugins.Plugin) step {
				return send("a", "prop plugin.version").outputs(p.Version())
			}),
			send("a", "prop unknown.key").outputs("ERR 1"),
			send("a", "prop0 plugin.name").outputs(pluginName),
			send("a", "prop0 request.path").outputs("ERR 1"),
			send("a", "prop-len request.host").outputs("16"),
			send("a", "prop-len request.header.nope").outputs("ERR 1"),
		}},
		// session.subprotocol is absent before weir_on_open.
		{name: "subprotocol_before_open", steps: []step{
			handshake("a").succeeds(),
			send("a", "prop session.subprotocol").outputs("ERR 1"),
		}},

		// log and log_enabled (the host logs info and above).
		{name: "log", steps: []step{
			open("a"),
			send("a", "log 0 hello guest").outputs("1"),
			send("a", "log 2 guest error").outputs("1"),
			send("a", "log -1 guest debug").outputs("0"),
			send("a", "log 7 bad level").outputs("0"),
			logged(slog.LevelInfo, "hello guest"),
			logged(slog.LevelError, "guest error"),
			notLogged("guest debug"),
			notLogged("bad level"),
		}},

		// metric_add on each kind; metric_define again, with another kind
		// and with a bad name.
		{name: "metrics", steps: []step{
			open("a"),
			send("a", "metric counter 3").outputs("0"),
			send("a", "metric counter 4").outputs("0"),
			send("a", "metric counter -2").outputs("0"),
			send("a", "metric gauge 5").outputs("1"),
			send("a", "metric gauge -3").outputs("1"),
			send("a", "metric histogram 10").outputs("2"),
			send("a", "metric histogram 20").outputs("2"),
			metric("tck_counter", plugins.Counter, 7, 0),
			metric("tck_gauge", plugins.Gauge, 2, 0),
			metric("tck_histogram", plugins.Histogram, 30, 2),
			send("a", "metric-define 0 tck_counter").outputs("0"),
			send("a", "metric-define 1 tck_counter").outputs("-2"),
			send("a", "metric-define 0 9starts_with_a_digit").outputs("-2"),
			send("a", "metric-define 5 tck_bad_kind").outputs("-2"),
			send("a", "metric-define 2 tck_new").outputs("3"),
			metric("tck_new", plugins.Histogram, 0, 0),
		}},

		// kv_get, kv_set (unconditional, CAS, delete), kv_incr.
		{name: "kv", steps: []step{
			open("a"),
			send("a", "kv-get k").outputs("ERR 1"),
			send("a", "kv-set k 0 v1").outputs("0"),
			send("a", "kv-get k").outputs("1 2 v1"),
			send("a", "kv-set k 5 v2").outputs("8"),
			send("a", "kv-set k 1 v2 v2").outputs("0"),
			send("a", "kv-get k").outputs("2 5 v2 v2"),
			send("a", "kv-set k 0").outputs("0"),
			send("a", "kv-get k").outputs("ERR 1"),
			send("a", "kv-set nokey 3 v").outputs("8"),
			send("a", "kv-incr n 5").outputs("5"),
			send("a", "kv-incr n -7").outputs("-2"),
			send("a", "kv-get n").outputs("2 8 \xfe\xff\xff\xff\xff\xff\xff\xff"),
			send("a", "kv-set s 0 abc").outputs("0"),
			send("a", "kv-incr s 1").outputs("ERR"),
			// Keys of 0 and 257 bytes are refused.
			send("a", "kv-set  0 v").outputs("2"),
			send("a", "kv-get "+strings.Repeat("k", 257)).outputs("ERR 2"),
			send("a", "kv-incr "+strings.Repeat("k", 257)+" 1").outputs("ERR"),
			// A value longer than the guest's 1 KiB scratch: kv_get returns
			// its length without writing it.
			send("a", "kv-set big 0 "+strings.Repeat("v", 2000)).outputs("0"),
			send("a", "kv-get big").outputs("1 2000"),
		}},
		// The store is shared by every instance of the plugin; session ids
		// are per instance.
		{name: "kv_across_instances", shards: 2, steps: []step{
			open("a"),
			open("b"),
			send("a", "sid").outputs("1"),
			send("b", "sid").outputs("1"),
			send("a", "kv-set shared 0 from a").outputs("0"),
			send("b", "kv-get shared").outputs("1 6 from a"),
			send("b", "kv-incr hits 1").outputs("1"),
			send("a", "kv-incr hits 1").outputs("2"),
		}},

		// now_ns is the wall clock.
		{name: "now", steps: []step{
			open("a"),
			nowStep("a"),
		}},

		// State kept per session in the guest, and weir_on_session_end
		// freeing it.
		{name: "session_state", steps: []step{
			open("a"),
			open("b"),
			send("a", "echo one more for a").outputs("one more for a"),
			send("a", "state-set alpha").outputs("ok"),
			send("b", "state-set beta").outputs("ok"),
			send("a", "state-get").outputs("alpha"),
			send("b", "state-get").outputs("beta"),
			send("a", "count").outputs("4"),
			send("b", "count").outputs("3"),
			send("a", "sessions").outputs("2"),
			end("b", 1000),
			send("a", "sessions").outputs("1"),
			send("a", "kv-incr ended 0").outputs("1"),
		}},
		// weir_on_session_end also for a session no other hook saw.
		{name: "session_end_without_hooks", steps: []step{
			open("a"),
			create("b"),
			end("b", 1006),
			send("a", "kv-incr ended 0").outputs("1"),
			send("a", "kv-get last-close").outputs("ERR 1"),
		}},

		// reject outside weir_on_handshake.
		{name: "reject_outside_handshake", steps: []step{
			open("a"),
			send("a", "reject").outputs("2"),
		}},

		// set_tick and weir_on_tick: ticks count in the store, and a tick
		// sends to and closes sessions.
		{name: "tick", config: "tick", steps: []step{
			open("a"),
			open("b"),
			eventually(send("a", "kv-incr ticks 0").outputsFunc("≥ 2", atLeast(2))),
			send("a", "state-set tick-send").outputs("ok"),
			eventually(sent("a", toClient, text, "tick")),
			send("a", "state-get").outputs(""),
			send("b", "state-set tick-close").outputs("ok"),
			eventually(closed("b", 4004, "tick")),
		}},

		// weir_on_drain: keep, close now (1012), or close_session.
		{name: "drain", steps: []step{
			open("a"),
			open("b"),
			open("c"),
			send("a", "state-set drain-now").outputs("ok"),
			send("b", "state-set drain-close").outputs("ok"),
			drain(1500*time.Millisecond, 2),
			closed("a", 1012, "service restart"),
			closed("b", 4003, "drain"),
			send("c", "kv-get drain-deadline").outputs("3 4 1500"),
		}},

		// A trap fails the hook and discards the instance: its other
		// sessions close with 1011 and a fresh instance serves new ones.
		{name: "trap", steps: []step{
			open("a"),
			open("b"),
			send("a", "trap").fails(plugins.ErrTrap),
			closed("b", 1011, "filter instance failed"),
			send("b", "echo gone").fails(plugins.ErrInstanceLost),
			open("c"),
			send("c", "sessions").outputs("1"),
			send("c", "sid").outputs("1"),
		}},
		// An endless loop runs into the call deadline.
		{name: "spin", callTimeout: 100 * time.Millisecond, steps: []step{
			open("a"),
			send("a", "spin").fails(plugins.ErrCallTimeout),
			open("b"),
			send("b", "echo alive").outputs("alive"),
		}},
	}
}

func atLeast(n int64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < n {
			return fmt.Errorf("got %q, want a number ≥ %d", s, n)
		}
		return nil
	}
}

// nowStep expects now_ns to fall between the clock before and after the
// message.
func nowStep(name string) step {
	m := send(name, "now")
	return step{desc: m.desc, run: func(e *env) error {
		before := time.Now().UnixNano()
		return m.outputsFunc("the time", func(s string) error {
			after := time.Now().UnixNano()
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < before || v > after {
				return fmt.Errorf("got %q, want a time in [%d, %d]", s, before, after)
			}
			return nil
		}).run(e)
	}}
}
