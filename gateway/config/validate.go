package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The accepted values of each enumerated key. A new relay engine, balance
// policy or log format is one entry here (and its implementation).
var (
	relays     = []string{"frames", "tunnel"}
	serves     = []string{"", "demo_page"}
	balances   = []string{"round_robin"}
	directions = []string{"client_to_backend", "backend_to_client", "both"}
	onErrors   = []string{"close", "skip"}
	logFormats = []string{"text", "json"}
	logLevels  = []string{"debug", "info", "warn", "error"}
)

// BuiltinEcho is the backend address of weir's built-in echo backend.
const BuiltinEcho = "builtin:echo"

// minMemoryLimit is one WebAssembly page: a smaller limit cannot hold any
// module's memory.
const minMemoryLimit = 64 << 10

// minReloadInterval keeps the file watcher from turning into a busy loop.
const minReloadInterval = 10 * time.Millisecond

// Validate checks the whole configuration and returns a *ValidationError
// listing every problem, each with the path of its key and what was
// expected, or nil. Load calls it; call it again after changing a Gateway by
// hand. It reads the TLS files it names (to check they are there and
// readable) and nothing else.
func (g *Gateway) Validate() error {
	var p problems
	g.check(&p)
	return p.err()
}

func (g *Gateway) check(p *problems) {
	listeners := make(map[string]string, len(g.Listeners)) // name -> path
	if len(g.Listeners) == 0 {
		p.add("listeners", "at least one listener is required")
	}
	for i, l := range g.Listeners {
		lp := indexPath("listeners", i)
		checkName(p, lp+".name", "listener", l.Name, listeners)
		checkAddress(p, lp+".address", l.Address)
		if l.TLS != nil {
			checkTLS(p, lp+".tls", l.TLS)
		}
	}

	if g.Admin.Address != "" {
		checkAddress(p, "admin.address", g.Admin.Address)
	}

	s := g.Server
	positive(p, "server.max_connections", s.MaxConnections)
	positive(p, "server.handshake_timeout", s.HandshakeTimeout)
	positive(p, "server.max_header_bytes", s.MaxHeaderBytes)
	positive(p, "server.max_headers", s.MaxHeaders)
	positive(p, "server.drain_timeout", s.DrainTimeout)
	positive(p, "server.close_timeout", s.CloseTimeout)
	if s.IdleSessions != "poller" && s.IdleSessions != "goroutines" {
		p.add("server.idle_sessions", fmt.Sprintf("expected one of: poller, goroutines; got %q", s.IdleSessions))
	}
	for i, c := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(c); err != nil {
			p.add(indexPath("server.trusted_proxies", i), fmt.Sprintf("expected a CIDR like 10.0.0.0/8, got %q", c))
		}
	}

	routes := make(map[string]string, len(g.Routes))
	for i := range g.Routes {
		g.Routes[i].check(p, indexPath("routes", i), routes, listeners)
	}

	pl := g.Plugins
	positive(p, "plugins.call_timeout", pl.CallTimeout)
	if pl.MemoryLimit < minMemoryLimit {
		p.add("plugins.memory_limit", "must be at least 64KiB (one WebAssembly page), got "+pl.MemoryLimit.String())
	}
	if pl.Shards < 0 {
		p.add("plugins.shards", "must be >= 0 (0 picks 2×GOMAXPROCS)")
	}

	rl := g.Reload
	if rl.Interval < minReloadInterval {
		p.add("reload.interval", fmt.Sprintf("must be at least %v (each interval stats every watched file), got %v", minReloadInterval, rl.Interval))
	}
	if rl.DrainTimeout < 0 {
		p.add("reload.drain_timeout", "must be >= 0 (0 lets sessions of a replaced configuration finish on their own)")
	}

	oneOf(p, "telemetry.logs.format", g.Telemetry.Logs.Format, logFormats)
	oneOf(p, "telemetry.logs.level", g.Telemetry.Logs.Level, logLevels)
}

func (r *Route) check(p *problems, rp string, routes, listeners map[string]string) {
	checkName(p, rp+".name", "route", r.Name, routes)
	if r.Listener != "" {
		if _, ok := listeners[r.Listener]; !ok {
			p.add(rp+".listener", fmt.Sprintf("no listener is named %q (expected the name of one of listeners, or empty for all)", r.Listener))
		}
	}
	oneOf(p, rp+".relay", r.Relay, relays)
	oneOf(p, rp+".serve", r.Serve, serves)

	m := r.Match
	if m.Path != "" && m.PathPrefix != "" {
		p.add(rp+".match", "set path or path_prefix, not both")
	}
	if m.Path != "" && !strings.HasPrefix(m.Path, "/") {
		p.add(rp+".match.path", fmt.Sprintf("must start with /, got %q", m.Path))
	}
	if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
		p.add(rp+".match.path_prefix", fmt.Sprintf("must start with /, got %q", m.PathPrefix))
	}
	for name := range m.Headers {
		if !isToken(name) {
			p.add(rp+".match.headers."+name, "expected a header name (an HTTP token)")
		}
	}
	for i, sp := range m.Subprotocols {
		if !isToken(sp) {
			p.add(indexPath(rp+".match.subprotocols", i), fmt.Sprintf("expected a subprotocol name (an HTTP token), got %q", sp))
		}
	}
	for i, o := range r.Origins {
		if msg := checkOrigin(o); msg != "" {
			p.add(indexPath(rp+".origins", i), msg)
		}
	}

	l := r.Limits
	lp := rp + ".limits"
	positive(p, lp+".max_frame_bytes", l.MaxFrameBytes)
	positive(p, lp+".max_message_bytes", l.MaxMessageBytes)
	if l.MaxFrameBytes > 0 && l.MaxMessageBytes > 0 && l.MaxFrameBytes > l.MaxMessageBytes {
		p.add(lp+".max_frame_bytes", fmt.Sprintf("must be <= max_message_bytes (%s), got %s", l.MaxMessageBytes, l.MaxFrameBytes))
	}
	if !(l.MessagesPerSecond >= 0) || math.IsInf(l.MessagesPerSecond, 0) {
		p.add(lp+".messages_per_second", "must be >= 0 (0 is no limit)")
	}
	switch {
	case l.Burst < 0:
		p.add(lp+".burst", "must be >= 0")
	case l.MessagesPerSecond > 0 && l.Burst < 1:
		p.add(lp+".burst", "must be >= 1 when messages_per_second is set")
	}
	positive(p, lp+".idle_timeout", l.IdleTimeout)
	if l.PingInterval < 0 {
		p.add(lp+".ping_interval", "must be >= 0 (0 disables pings)")
	}
	positive(p, lp+".pong_timeout", l.PongTimeout)
	positive(p, lp+".write_timeout", l.WriteTimeout)

	positive(p, rp+".timeouts.connect", r.Timeouts.Connect)
	positive(p, rp+".timeouts.handshake", r.Timeouts.Handshake)

	b := r.Backends
	bp := rp + ".backends"
	oneOf(p, bp+".balance", b.Balance, balances)
	if r.Serve == "" && len(b.Members) == 0 {
		p.add(bp+".members", "at least one member is required (or set serve)")
	}
	weighted := false
	for i, mb := range b.Members {
		mp := indexPath(bp+".members", i)
		if mb.Address != BuiltinEcho {
			checkAddress(p, mp+".address", mb.Address)
		}
		if mb.Weight < 0 {
			p.add(mp+".weight", "must be >= 0 (0 sends no new sessions)")
		}
		weighted = weighted || mb.Weight > 0
	}
	if len(b.Members) > 0 && !weighted {
		p.add(bp+".members", "at least one member needs a weight > 0")
	}

	for i, f := range r.Filters {
		fp := indexPath(rp+".filters", i)
		if (f.Native == "") == (f.Wasm == "") {
			p.add(fp, "set exactly one of native or wasm")
		}
		oneOf(p, fp+".directions", f.Directions, directions)
		oneOf(p, fp+".on_error", f.OnError, onErrors)
	}
	if len(r.Filters) > 0 && r.Relay == "tunnel" {
		// The tunnel relays opaque bytes, so filters would silently not
		// run: refuse rather than let a user believe they do.
		p.add(rp+".filters", "filters need relay: frames; the tunnel does not look at messages")
	}
}

// checkName requires a non-empty name unique among its kind; seen maps names
// to the path that first used them.
func checkName(p *problems, path, kind, name string, seen map[string]string) {
	if name == "" {
		p.add(path, "required: every "+kind+" needs a name")
		return
	}
	if first, dup := seen[name]; dup {
		p.add(path, fmt.Sprintf("duplicate %s name %q (also %s)", kind, name, first))
		return
	}
	seen[name] = path
}

// checkAddress requires host:port with a numeric port, where host is empty
// (every interface), an IP address or a DNS name; port 0 (pick a free port)
// is allowed, which is what tests use.
func checkAddress(p *problems, path, addr string) {
	const want = "expected host:port with a numeric port, like 127.0.0.1:8080"
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(path, fmt.Sprintf("%s, got %q", want, addr))
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port || !validHost(host) {
		p.add(path, fmt.Sprintf("%s, got %q", want, addr))
	}
}

// validHost accepts "", an IP address (IPv6 with a zone too) or a DNS name
// made of letters, digits, hyphens, underscores and dots.
func validHost(h string) bool {
	if h == "" {
		return true
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func checkTLS(p *problems, path string, t *TLS) {
	if len(t.Certs) == 0 {
		p.add(path+".certs", "at least one certificate (cert and key) is required when tls is set")
	}
	for i, c := range t.Certs {
		cp := indexPath(path+".certs", i)
		checkFile(p, cp+".cert", c.Cert)
		checkFile(p, cp+".key", c.Key)
	}
	if t.ClientCA != "" {
		checkFile(p, path+".client_ca", t.ClientCA)
	}
}

// checkFile requires a readable regular file. Relative names are relative to
// the process's working directory, as the gateway will open them.
func checkFile(p *problems, path, name string) {
	if name == "" {
		p.add(path, "required: expected the path of a PEM file")
		return
	}
	f, err := os.Open(name)
	if err != nil {
		p.add(path, "expected a readable PEM file: "+err.Error())
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() {
		p.add(path, fmt.Sprintf("expected a readable PEM file, %q is a directory", name))
	}
}

// checkOrigin accepts "*" or scheme://host[:port], the serialisation of an
// origin (RFC 6454 §6.2) that browsers send; it returns what is wrong.
func checkOrigin(o string) string {
	const want = `expected "*" or scheme://host[:port] with no path, like https://chat.example.com`
	if o == "*" {
		return ""
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.HasSuffix(o, "#") {
		return fmt.Sprintf("%s, got %q", want, o)
	}
	if port := u.Port(); port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Sprintf("%s, got %q", want, o)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Sprintf("%s, got %q", want, o)
	}
	return ""
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the grammar
// of header names and WebSocket subprotocol names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// positive requires v > 0; %v prints durations and sizes in their units.
func positive[T ~int | ~int64](p *problems, path string, v T) {
	if v <= 0 {
		p.add(path, fmt.Sprintf("must be > 0, got %v", v))
	}
}

func oneOf(p *problems, path, v string, allowed []string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	var shown []string
	for _, a := range allowed {
		if a == "" {
			shown = append(shown, `"" (unset)`)
			continue
		}
		shown = append(shown, a)
	}
	p.add(path, fmt.Sprintf("expected one of: %s; got %q", strings.Join(shown, ", "), v))
}
