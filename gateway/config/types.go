package config

import "time"

// Gateway is the whole configuration of a weir process: what gateway.yaml
// holds. Every field has a default that is safe on the internet (see
// applyDefaults in defaults.go and the documented gateway.yaml). Build one
// with Load; a Gateway built by hand gets no defaults and should be checked
// with Validate.
type Gateway struct {
	Listeners []Listener `koanf:"listeners"`
	Admin     Admin      `koanf:"admin"`
	Server    Server     `koanf:"server"`
	Routes    []Route    `koanf:"routes"`
	Telemetry Telemetry  `koanf:"telemetry"`
	// Plugins holds settings shared by every WASM filter.
	Plugins Plugins `koanf:"plugins"`
	// Reload says when a running weir reloads and what becomes of the
	// sessions of the configuration it replaced.
	Reload Reload `koanf:"reload"`
}

// Listener is one address weir accepts client connections on.
type Listener struct {
	Name    string `koanf:"name"`
	Address string `koanf:"address"`
	TLS     *TLS   `koanf:"tls"`
}

// TLS terminates TLS on a listener.
type TLS struct {
	Certs []CertPair `koanf:"certs"`
	// ClientCA, when set, requires clients to present a certificate signed
	// by one of the CAs in this PEM file (mTLS).
	ClientCA string `koanf:"client_ca"`
}

// CertPair is one certificate chain and its key, both PEM files.
type CertPair struct {
	Cert string `koanf:"cert"`
	Key  string `koanf:"key"`
}

// Admin is the admin HTTP listener (health, metrics, reload, drain).
type Admin struct {
	// Address is where the admin API listens; "" disables it. Loopback by
	// default: the admin API must not face the internet.
	Address string `koanf:"address"`
}

// Server holds process-wide limits and timeouts.
type Server struct {
	// MaxConnections caps client connections across all listeners, in a
	// handshake or in a session; a connection over the cap gets 503.
	MaxConnections int `koanf:"max_connections"`
	// HandshakeTimeout bounds reading the client's request head.
	HandshakeTimeout time.Duration `koanf:"handshake_timeout"`
	// MaxHeaderBytes caps the request head (request line and headers).
	MaxHeaderBytes Size `koanf:"max_header_bytes"`
	// MaxHeaders caps the number of request headers.
	MaxHeaders int `koanf:"max_headers"`
	// DrainTimeout bounds a graceful shutdown: after it, what is left is
	// closed hard.
	DrainTimeout time.Duration `koanf:"drain_timeout"`
	// CloseTimeout is how long weir waits for a peer's Close reply before
	// it closes the TCP connection.
	CloseTimeout time.Duration `koanf:"close_timeout"`
	// TrustedProxies are CIDRs of proxies in front of weir whose forwarding
	// headers (X-Forwarded-For/-Proto/-Host, Forwarded) weir keeps and
	// extends; from any other peer they are replaced.
	TrustedProxies []string `koanf:"trusted_proxies"`
	// IdleSessions is how frame-engine sessions wait for bytes: "poller"
	// (the default: an idle session holds no goroutine and no buffer; it
	// waits on epoll) or "goroutines" (a goroutine per direction: a little
	// less latency per message, much more memory per idle session).
	IdleSessions string `koanf:"idle_sessions"`
}

// Route matches handshakes and says where they go.
//
// Order matters: the gateway tries routes in the order the configuration
// lists them and the first route whose listener and Match fit takes the
// request, so put specific routes before general ones (a route matching
// path "/" or no path at all belongs last).
type Route struct {
	Name string `koanf:"name"`
	// Listener names the listener the route serves; "" means every one.
	Listener string `koanf:"listener"`
	Match    Match  `koanf:"match"`
	// Serve, when set, answers plain HTTP requests on this route from
	// weir itself instead of a backend: "demo_page" serves the demo page.
	Serve string `koanf:"serve"`
	// Relay is "frames" (the default: every frame parsed and validated) or
	// "tunnel" (opaque bytes after the validated 101).
	Relay string `koanf:"relay"`
	// Origins are the allowed Origin header values ("*" allows any).
	// Empty means any origin is allowed.
	Origins []string `koanf:"origins"`
	// AllowMissingOrigin admits clients that send no Origin (non-browser
	// clients). Default true.
	AllowMissingOrigin *bool    `koanf:"allow_missing_origin"`
	Limits             Limits   `koanf:"limits"`
	Timeouts           Timeouts `koanf:"timeouts"`
	Backends           Backends `koanf:"backends"`
	Filters            []Filter `koanf:"filters"`
}

// Match selects the handshakes a route takes. Empty fields match anything;
// all set fields must match.
type Match struct {
	// Host matches the Host header without its port, case-insensitively;
	// a leading "*." matches any subdomain.
	Host string `koanf:"host"`
	// Path matches the request path exactly.
	Path string `koanf:"path"`
	// PathPrefix matches a path prefix at a segment boundary.
	PathPrefix string `koanf:"path_prefix"`
	// Headers must all be present with exactly these values (names are
	// case-insensitive).
	Headers map[string]string `koanf:"headers"`
	// Subprotocols matches when the client offers at least one of them.
	Subprotocols []string `koanf:"subprotocols"`
}

// Limits bound what one session may make weir hold or do. Sizes are Size
// values ("1MiB"), durations are written like "20s".
type Limits struct {
	MaxFrameBytes   Size `koanf:"max_frame_bytes"`
	MaxMessageBytes Size `koanf:"max_message_bytes"`
	// MessagesPerSecond limits client messages per session; 0 is no limit.
	MessagesPerSecond float64 `koanf:"messages_per_second"`
	// Burst is how many messages may arrive at once above the rate; it
	// defaults to two seconds' worth (at least 1) when a rate is set.
	Burst int `koanf:"burst"`
	// IdleTimeout closes a session where neither side sent anything.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// PingInterval is how often weir pings a silent peer (0 disables).
	PingInterval time.Duration `koanf:"ping_interval"`
	// PongTimeout is how long weir waits for a pong before it gives up on
	// the peer.
	PongTimeout time.Duration `koanf:"pong_timeout"`
	// WriteTimeout bounds one write to a peer; a reader slower than this
	// gets its session closed.
	WriteTimeout time.Duration `koanf:"write_timeout"`
}

// Timeouts bound the backend leg's setup.
type Timeouts struct {
	Connect   time.Duration `koanf:"connect"`
	Handshake time.Duration `koanf:"handshake"`
}

// Backends is a route's pool of upstream servers.
type Backends struct {
	// Balance is the selection policy: round_robin (default).
	Balance string    `koanf:"balance"`
	Members []Backend `koanf:"members"`
}

// Backend is one upstream server.
type Backend struct {
	// Address is host:port, or "builtin:echo" for weir's built-in echo
	// backend.
	Address string `koanf:"address"`
	Weight  int    `koanf:"weight"`
	// TLS dials the backend over TLS.
	TLS bool `koanf:"tls"`
}

// Filter is one entry of a route's filter chain: exactly one of Native or
// Wasm is set.
type Filter struct {
	Native string `koanf:"native"`
	Wasm   string `koanf:"wasm"`
	// Config is handed to the filter as JSON, undecoded by the gateway.
	Config map[string]any `koanf:"config"`
	// Directions is client_to_backend, backend_to_client or both (default).
	Directions string `koanf:"directions"`
	// OnError is close (default: 1011) or skip.
	OnError string `koanf:"on_error"`
}

// Plugins holds settings shared by WASM filters.
type Plugins struct {
	// CacheDir holds compiled modules across restarts; "" keeps them in
	// memory only.
	CacheDir string `koanf:"cache_dir"`
	// CallTimeout bounds one call into a filter.
	CallTimeout time.Duration `koanf:"call_timeout"`
	// MemoryLimit caps one instance's linear memory.
	MemoryLimit Size `koanf:"memory_limit"`
	// Shards is the number of instances per plugin version (0: 2×GOMAXPROCS).
	Shards int `koanf:"shards"`
}

// Reload configures hot reload. A reload (SIGHUP, POST /reload on the admin
// API, or a watched file changing) re-reads the configuration and every
// WASM module it names, builds them aside and switches new sessions to
// them; a configuration or module that fails leaves the running one in
// force.
type Reload struct {
	// Watch reloads when the configuration file or a .wasm file a route
	// names changes on disk, as SIGHUP would.
	Watch bool `koanf:"watch"`
	// Interval is how often watched files are checked; a change is acted
	// on once no watched file moved for one interval.
	Interval time.Duration `koanf:"interval"`
	// DrainTimeout bounds how long sessions that started on a replaced
	// configuration may go on: 0 lets them finish on their own; after a
	// positive value they are closed with 1012 (service restart) on both
	// legs, so clients reconnect to the new configuration.
	DrainTimeout time.Duration `koanf:"drain_timeout"`
}

// Telemetry configures logs, metrics and traces.
type Telemetry struct {
	Logs Logs `koanf:"logs"`
}

// Logs configures the process log.
type Logs struct {
	// Format is text or json.
	Format string `koanf:"format"`
	// Level is debug, info, warn or error.
	Level string `koanf:"level"`
}
