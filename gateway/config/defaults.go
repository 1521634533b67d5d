package config

import (
	"math"
	"time"
)

// applyDefaults fills every key that no source set, per element: each
// listener, route, backend member and filter gets its own defaults. It is the
// one place that holds default values, and each says why it is safe for a
// gateway that faces the internet.
//
// set reports whether the file, the environment or a --set flag gave a value
// at a path. An explicit value is kept even when it is zero, because zero can
// mean something: ping_interval: 0 disables pings, weight: 0 parks a member,
// admin address "" disables the admin API. An explicit zero where zero is not
// allowed (max_connections: 0) is then reported by Validate, not papered over.
func applyDefaults(g *Gateway, set func(path string) bool) {
	fill := func(path string, apply func()) {
		if !set(path) {
			apply()
		}
	}

	// Loopback: the admin API can reload and drain the gateway, so it must
	// be exposed on purpose, never by default.
	fill("admin.address", func() { g.Admin.Address = "127.0.0.1:9901" })

	s := &g.Server
	// 10 000 sessions fit comfortably in the default 1 MiB-per-message
	// budget on a small machine and stay well under common fd limits
	// (ulimit 65 536) even with a backend leg per session.
	fill("server.max_connections", func() { s.MaxConnections = 10000 })
	// 10 s is generous for a request head on a slow mobile link and short
	// enough that slowloris connections (L-03) are shed quickly.
	fill("server.handshake_timeout", func() { s.HandshakeTimeout = 10 * time.Second })
	// 16 KiB holds real browser handshakes with cookies; larger heads are
	// refused with 431 before they cost memory (L-08).
	fill("server.max_header_bytes", func() { s.MaxHeaderBytes = 16 << 10 })
	// 100 headers, Envoy's default: far above what browsers send, low
	// enough to bound per-header work (L-08).
	fill("server.max_headers", func() { s.MaxHeaders = 100 })
	// 15 s lets clients reconnect elsewhere after a 1001 without making
	// a rolling restart slow.
	fill("server.drain_timeout", func() { s.DrainTimeout = 15 * time.Second })
	// 5 s for a peer to answer Close; a peer that never answers holds a
	// socket no longer than this.
	fill("server.close_timeout", func() { s.CloseTimeout = 5 * time.Second })
	// The poller keeps idle sessions cheap, which is what a gateway facing
	// the internet mostly holds.
	fill("server.idle_sessions", func() { s.IdleSessions = "poller" })

	for i := range g.Routes {
		applyRouteDefaults(&g.Routes[i], indexPath("routes", i), fill)
	}

	p := &g.Plugins
	// 10 ms per call: a filter that needs more is broken or hostile, and a
	// stuck guest must not hold a shard (W-01).
	fill("plugins.call_timeout", func() { p.CallTimeout = 10 * time.Millisecond })
	// 16 MiB (256 pages) per instance instead of wazero's 4 GiB default, so
	// a guest growing memory cannot take the host down (W-02).
	fill("plugins.memory_limit", func() { p.MemoryLimit = 16 << 20 })

	rl := &g.Reload
	// Watching is on: an edited file takes effect without a signal, and a
	// broken one changes nothing (the running configuration stays).
	fill("reload.watch", func() { rl.Watch = true })
	// 1 s: a save takes effect within about two seconds, for a few stat
	// calls a second.
	fill("reload.interval", func() { rl.Interval = time.Second })
	// 0: a reload never closes a WebSocket unless the operator asks for it
	// (DESIGN.md §3); sessions finish on the version they started with.
	fill("reload.drain_timeout", func() { rl.DrainTimeout = 0 })

	l := &g.Telemetry.Logs
	// Text at info: readable on a terminal and quiet enough for
	// production; nothing at info logs message payloads.
	fill("telemetry.logs.format", func() { l.Format = "text" })
	fill("telemetry.logs.level", func() { l.Level = "info" })
}

func applyRouteDefaults(r *Route, path string, fill func(string, func())) {
	// Frames: every frame is parsed and checked (RFC 6455, limits,
	// filters); the tunnel skips all of that, so it must be asked for.
	fill(path+".relay", func() { r.Relay = "frames" })
	if r.AllowMissingOrigin == nil {
		// Non-browser clients send no Origin and cannot be driven by a
		// hostile page (§10.2), so missing Origin is not a CSRF vector
		// by itself; a cookie-authenticated route turns this off.
		allow := true
		r.AllowMissingOrigin = &allow
	}

	l := &r.Limits
	lp := path + ".limits"
	// 1 MiB frames and messages: ample for chat, games and dashboards,
	// and bounds what one session makes weir buffer (L-01, 1009). The
	// frame default never exceeds a smaller max_message_bytes that was
	// set, so lowering only the message limit stays valid.
	fill(lp+".max_message_bytes", func() { l.MaxMessageBytes = 1 << 20 })
	fill(lp+".max_frame_bytes", func() {
		l.MaxFrameBytes = 1 << 20
		if l.MaxMessageBytes > 0 && l.MaxMessageBytes < l.MaxFrameBytes {
			l.MaxFrameBytes = l.MaxMessageBytes
		}
	})
	// 5 min idle: long enough for a quiet dashboard between pings (which
	// are traffic), short enough to shed abandoned sessions (L-06).
	fill(lp+".idle_timeout", func() { l.IdleTimeout = 5 * time.Minute })
	// 30 s pings keep NAT and load-balancer mappings alive (most drop
	// idle flows at 60 s or more).
	fill(lp+".ping_interval", func() { l.PingInterval = 30 * time.Second })
	// 15 s without a pong: a dead peer is found within 45 s (L-06).
	fill(lp+".pong_timeout", func() { l.PongTimeout = 15 * time.Second })
	// 10 s per write: a reader slower than that would make weir buffer
	// without bound (L-04).
	fill(lp+".write_timeout", func() { l.WriteTimeout = 10 * time.Second })
	if l.MessagesPerSecond > 0 {
		// Two seconds' worth of messages absorbs a reconnect burst
		// without letting a client exceed the rate for long.
		fill(lp+".burst", func() { l.Burst = burstFor(l.MessagesPerSecond) })
	}

	t := &r.Timeouts
	// 5 s to connect to a backend on the same network is already slow;
	// the client waits no longer than this for a 503 (B-04).
	fill(path+".timeouts.connect", func() { t.Connect = 5 * time.Second })
	// 10 s for the backend's 101, then 504 (B-04).
	fill(path+".timeouts.handshake", func() { t.Handshake = 10 * time.Second })

	// Round robin needs no state beyond a counter and spreads load evenly.
	fill(path+".backends.balance", func() { r.Backends.Balance = "round_robin" })
	for i := range r.Backends.Members {
		m := &r.Backends.Members[i]
		// Equal weights: every member takes its share unless told otherwise.
		fill(indexPath(path+".backends.members", i)+".weight", func() { m.Weight = 1 })
	}

	for i := range r.Filters {
		f := &r.Filters[i]
		fp := indexPath(path+".filters", i)
		// Both directions: a filter that polices content sees all of it
		// unless it is narrowed on purpose.
		fill(fp+".directions", func() { f.Directions = "both" })
		// Close (1011) on a filter error: fail closed, never let a message
		// bypass a filter that broke (rule 5).
		fill(fp+".on_error", func() { f.OnError = "close" })
	}
}

// burstFor is the default burst for a message rate: two seconds' worth, at
// least 1, and capped so that an absurd rate cannot overflow an int.
func burstFor(perSecond float64) int {
	b := 2 * perSecond
	if b >= math.MaxInt32 {
		return math.MaxInt32
	}
	return max(1, int(b))
}
