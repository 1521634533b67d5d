package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// validBase is a small configuration that passes Validate; each case below
// breaks one rule in a copy of it.
const validBase = `
listeners:
  - name: public
    address: 127.0.0.1:0
  - name: internal
    address: "[::1]:0"
routes:
  - name: chat
    listener: public
    match: {path_prefix: /chat, headers: {X-Tenant: a}, subprotocols: [chat.v2]}
    origins: ["https://chat.example.com", "http://localhost:8080", "*"]
    limits: {messages_per_second: 5}
    filters:
      - native: size_limit
      - wasm: filters/redact.wasm
        directions: client_to_backend
        on_error: skip
    backends:
      members:
        - address: 127.0.0.1:9001
        - address: builtin:echo
          weight: 0
  - name: demo
    match: {path: /}
    serve: demo_page
`

func loadBase(t *testing.T) *Gateway {
	t.Helper()
	g, err := Load(LoadOptions{Data: []byte(validBase)})
	if err != nil {
		t.Fatalf("base config does not load: %v", err)
	}
	return g
}

// validationErrors returns err as a *ValidationError or fails the test.
func validationErrors(t *testing.T, err error) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	return ve
}

func TestValidateBaseIsValid(t *testing.T) {
	if err := loadBase(t).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateRules(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "a.pem")
	if err := os.WriteFile(pem, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name   string
		mutate func(g *Gateway)
		path   string // the FieldError path that must be reported; "" = valid
	}{
		// Listeners.
		{"no listeners", func(g *Gateway) { g.Listeners = nil; g.Routes[0].Listener = "" }, "listeners"},
		{"listener without name", func(g *Gateway) { g.Listeners[1].Name = "" }, "listeners[1].name"},
		{"duplicate listener name", func(g *Gateway) { g.Listeners[1].Name = "public" }, "listeners[1].name"},
		{"address without port", func(g *Gateway) { g.Listeners[0].Address = "127.0.0.1" }, "listeners[0].address"},
		{"address with named port", func(g *Gateway) { g.Listeners[0].Address = "127.0.0.1:http" }, "listeners[0].address"},
		{"address with port out of range", func(g *Gateway) { g.Listeners[0].Address = "127.0.0.1:65536" }, "listeners[0].address"},
		{"address with signed port", func(g *Gateway) { g.Listeners[0].Address = "127.0.0.1:+80" }, "listeners[0].address"},
		{"address empty", func(g *Gateway) { g.Listeners[0].Address = "" }, "listeners[0].address"},
		{"address with space in host", func(g *Gateway) { g.Listeners[0].Address = " 127.0.0.1:80" }, "listeners[0].address"},
		{"address with bad host", func(g *Gateway) { g.Listeners[0].Address = "-bad-.example:80" }, "listeners[0].address"},
		{"address with hostname", func(g *Gateway) { g.Listeners[0].Address = "gw-1.internal.example:8080" }, ""},
		{"address with IPv6 zone", func(g *Gateway) { g.Listeners[0].Address = "[fe80::1%eth0]:0" }, ""},
		{"address all interfaces", func(g *Gateway) { g.Listeners[0].Address = ":8080" }, ""},
		{"address port 0", func(g *Gateway) { g.Listeners[0].Address = "localhost:0" }, ""},
		{"tls without certs", func(g *Gateway) { g.Listeners[0].TLS = &TLS{} }, "listeners[0].tls.certs"},
		{"tls cert missing", func(g *Gateway) {
			g.Listeners[0].TLS = &TLS{Certs: []CertPair{{Cert: missing, Key: pem}}}
		}, "listeners[0].tls.certs[0].cert"},
		{"tls key missing", func(g *Gateway) {
			g.Listeners[0].TLS = &TLS{Certs: []CertPair{{Cert: pem, Key: missing}}}
		}, "listeners[0].tls.certs[0].key"},
		{"tls key empty", func(g *Gateway) {
			g.Listeners[0].TLS = &TLS{Certs: []CertPair{{Cert: pem}}}
		}, "listeners[0].tls.certs[0].key"},
		{"tls cert is a directory", func(g *Gateway) {
			g.Listeners[0].TLS = &TLS{Certs: []CertPair{{Cert: dir, Key: pem}}}
		}, "listeners[0].tls.certs[0].cert"},
		{"tls client ca missing", func(g *Gateway) {
			g.Listeners[0].TLS = &TLS{Certs: []CertPair{{Cert: pem, Key: pem}}, ClientCA: missing}
		}, "listeners[0].tls.client_ca"},
		{"tls valid", func(g *Gateway) {
			g.Listeners[0].TLS = &TLS{Certs: []CertPair{{Cert: pem, Key: pem}}, ClientCA: pem}
		}, ""},

		// Admin and server.
		{"admin bad address", func(g *Gateway) { g.Admin.Address = "localhost" }, "admin.address"},
		{"admin disabled", func(g *Gateway) { g.Admin.Address = "" }, ""},
		{"max_connections 0", func(g *Gateway) { g.Server.MaxConnections = 0 }, "server.max_connections"},
		{"handshake_timeout 0", func(g *Gateway) { g.Server.HandshakeTimeout = 0 }, "server.handshake_timeout"},
		{"max_header_bytes 0", func(g *Gateway) { g.Server.MaxHeaderBytes = 0 }, "server.max_header_bytes"},
		{"max_headers negative", func(g *Gateway) { g.Server.MaxHeaders = -1 }, "server.max_headers"},
		{"drain_timeout 0", func(g *Gateway) { g.Server.DrainTimeout = 0 }, "server.drain_timeout"},
		{"close_timeout negative", func(g *Gateway) { g.Server.CloseTimeout = -time.Second }, "server.close_timeout"},
		{"trusted proxy not a CIDR", func(g *Gateway) { g.Server.TrustedProxies = []string{"10.0.0.0/8", "10.0.0.1"} }, "server.trusted_proxies[1]"},
		{"unknown idle strategy", func(g *Gateway) { g.Server.IdleSessions = "threads" }, "server.idle_sessions"},

		// Reload.
		{"reload interval 0", func(g *Gateway) { g.Reload.Interval = 0 }, "reload.interval"},
		{"reload interval too short", func(g *Gateway) { g.Reload.Interval = time.Millisecond }, "reload.interval"},
		{"reload interval shortest", func(g *Gateway) { g.Reload.Interval = 10 * time.Millisecond }, ""},
		{"reload drain_timeout negative", func(g *Gateway) { g.Reload.DrainTimeout = -time.Second }, "reload.drain_timeout"},
		{"reload drain_timeout set", func(g *Gateway) { g.Reload.DrainTimeout = time.Minute }, ""},
		{"reload watch off", func(g *Gateway) { g.Reload.Watch = false }, ""},

		// Routes.
		{"route without name", func(g *Gateway) { g.Routes[1].Name = "" }, "routes[1].name"},
		{"duplicate route name", func(g *Gateway) { g.Routes[1].Name = "chat" }, "routes[1].name"},
		{"route on unknown listener", func(g *Gateway) { g.Routes[0].Listener = "publik" }, "routes[0].listener"},
		{"route on every listener", func(g *Gateway) { g.Routes[0].Listener = "" }, ""},
		{"bad relay", func(g *Gateway) { g.Routes[0].Relay = "splice" }, "routes[0].relay"},
		{"tunnel relay", func(g *Gateway) { g.Routes[0].Relay = "tunnel"; g.Routes[0].Filters = nil }, ""},
		{"tunnel with filters", func(g *Gateway) { g.Routes[0].Relay = "tunnel" }, "routes[0].filters"},
		{"bad serve", func(g *Gateway) { g.Routes[1].Serve = "index" }, "routes[1].serve"},
		{"no backends without serve", func(g *Gateway) { g.Routes[0].Backends.Members = nil }, "routes[0].backends.members"},
		{"member bad address", func(g *Gateway) { g.Routes[0].Backends.Members[0].Address = "http://x" }, "routes[0].backends.members[0].address"},
		{"member unknown builtin", func(g *Gateway) { g.Routes[0].Backends.Members[1].Address = "builtin:nope" }, "routes[0].backends.members[1].address"},
		{"member negative weight", func(g *Gateway) { g.Routes[0].Backends.Members[1].Weight = -1 }, "routes[0].backends.members[1].weight"},
		{"all weights zero", func(g *Gateway) { g.Routes[0].Backends.Members[0].Weight = 0 }, "routes[0].backends.members"},
		{"bad balance", func(g *Gateway) { g.Routes[0].Backends.Balance = "p2c" }, "routes[0].backends.balance"},
		{"path and path_prefix", func(g *Gateway) { g.Routes[0].Match.Path = "/chat" }, "routes[0].match"},
		{"path without slash", func(g *Gateway) { g.Routes[1].Match.Path = "index" }, "routes[1].match.path"},
		{"path_prefix without slash", func(g *Gateway) { g.Routes[0].Match.PathPrefix = "chat" }, "routes[0].match.path_prefix"},
		{"origin with path", func(g *Gateway) { g.Routes[0].Origins[0] = "https://chat.example.com/" }, "routes[0].origins[0]"},
		{"origin without scheme", func(g *Gateway) { g.Routes[0].Origins[0] = "chat.example.com" }, "routes[0].origins[0]"},
		{"origin with query", func(g *Gateway) { g.Routes[0].Origins[0] = "https://chat.example.com?x" }, "routes[0].origins[0]"},
		{"origin with user", func(g *Gateway) { g.Routes[0].Origins[0] = "https://u@chat.example.com" }, "routes[0].origins[0]"},
		{"origin with bad port", func(g *Gateway) { g.Routes[0].Origins[1] = "http://localhost:80x" }, "routes[0].origins[1]"},
		{"origin with empty port", func(g *Gateway) { g.Routes[0].Origins[1] = "http://localhost:" }, "routes[0].origins[1]"},
		{"origin IPv6", func(g *Gateway) { g.Routes[0].Origins[1] = "http://[::1]:8080" }, ""},
		{"origin other scheme", func(g *Gateway) { g.Routes[0].Origins[1] = "chrome-extension://abcdef" }, ""},
		{"origin null", func(g *Gateway) { g.Routes[0].Origins[1] = "null" }, "routes[0].origins[1]"},
		{"header name not a token", func(g *Gateway) { g.Routes[0].Match.Headers = map[string]string{"X Tenant": "a"} }, "routes[0].match.headers.X Tenant"},
		{"subprotocol not a token", func(g *Gateway) { g.Routes[0].Match.Subprotocols = []string{"chat v2"} }, "routes[0].match.subprotocols[0]"},

		// Limits and timeouts.
		{"max_frame_bytes 0", func(g *Gateway) { g.Routes[0].Limits.MaxFrameBytes = 0 }, "routes[0].limits.max_frame_bytes"},
		{"max_message_bytes 0", func(g *Gateway) { g.Routes[0].Limits.MaxMessageBytes = 0 }, "routes[0].limits.max_message_bytes"},
		{"frame over message", func(g *Gateway) { g.Routes[0].Limits.MaxFrameBytes = 2 << 20 }, "routes[0].limits.max_frame_bytes"},
		{"negative rate", func(g *Gateway) { g.Routes[0].Limits.MessagesPerSecond = -1 }, "routes[0].limits.messages_per_second"},
		{"NaN rate", func(g *Gateway) { g.Routes[0].Limits.MessagesPerSecond = math.NaN() }, "routes[0].limits.messages_per_second"},
		{"negative burst", func(g *Gateway) { g.Routes[0].Limits.Burst = -1 }, "routes[0].limits.burst"},
		{"zero burst with rate", func(g *Gateway) { g.Routes[0].Limits.Burst = 0 }, "routes[0].limits.burst"},
		{"idle_timeout 0", func(g *Gateway) { g.Routes[0].Limits.IdleTimeout = 0 }, "routes[0].limits.idle_timeout"},
		{"ping_interval 0 disables", func(g *Gateway) { g.Routes[0].Limits.PingInterval = 0 }, ""},
		{"ping_interval negative", func(g *Gateway) { g.Routes[0].Limits.PingInterval = -time.Second }, "routes[0].limits.ping_interval"},
		{"pong_timeout 0", func(g *Gateway) { g.Routes[0].Limits.PongTimeout = 0 }, "routes[0].limits.pong_timeout"},
		{"write_timeout 0", func(g *Gateway) { g.Routes[0].Limits.WriteTimeout = 0 }, "routes[0].limits.write_timeout"},
		{"connect timeout 0", func(g *Gateway) { g.Routes[0].Timeouts.Connect = 0 }, "routes[0].timeouts.connect"},
		{"handshake timeout 0", func(g *Gateway) { g.Routes[0].Timeouts.Handshake = 0 }, "routes[0].timeouts.handshake"},

		// Filters.
		{"filter with neither", func(g *Gateway) { g.Routes[0].Filters[0].Native = "" }, "routes[0].filters[0]"},
		{"filter with both", func(g *Gateway) { g.Routes[0].Filters[1].Native = "x" }, "routes[0].filters[1]"},
		{"filter bad directions", func(g *Gateway) { g.Routes[0].Filters[0].Directions = "up" }, "routes[0].filters[0].directions"},
		{"filter bad on_error", func(g *Gateway) { g.Routes[0].Filters[0].OnError = "ignore" }, "routes[0].filters[0].on_error"},

		// Plugins and logs.
		{"call_timeout 0", func(g *Gateway) { g.Plugins.CallTimeout = 0 }, "plugins.call_timeout"},
		{"memory_limit under a page", func(g *Gateway) { g.Plugins.MemoryLimit = 64<<10 - 1 }, "plugins.memory_limit"},
		{"memory_limit one page", func(g *Gateway) { g.Plugins.MemoryLimit = 64 << 10 }, ""},
		{"negative shards", func(g *Gateway) { g.Plugins.Shards = -1 }, "plugins.shards"},
		{"bad log format", func(g *Gateway) { g.Telemetry.Logs.Format = "xml" }, "telemetry.logs.format"},
		{"bad log level", func(g *Gateway) { g.Telemetry.Logs.Level = "trace" }, "telemetry.logs.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := loadBase(t)
			tt.mutate(g)
			err := g.Validate()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ve := validationErrors(t, err)
			if !ve.Has(tt.path) {
				t.Fatalf("no error at %s; got:\n%v", tt.path, ve)
			}
			for _, fe := range ve.Errors {
				if fe.Msg == "" {
					t.Errorf("error at %s has no message", fe.Path)
				}
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	g := loadBase(t)
	g.Listeners[0].Address = "nope"
	g.Routes[0].Relay = "nope"
	g.Routes[1].Serve = "nope"
	g.Telemetry.Logs.Level = "nope"
	ve := validationErrors(t, g.Validate())
	for _, p := range []string{"listeners[0].address", "routes[0].relay", "routes[1].serve", "telemetry.logs.level"} {
		if !ve.Has(p) {
			t.Errorf("missing error at %s", p)
		}
	}
	if len(ve.Errors) != 4 {
		t.Errorf("got %d errors, want 4:\n%v", len(ve.Errors), ve)
	}
	var fe FieldError
	if !errors.As(asError(ve), &fe) || fe.Path != "listeners[0].address" {
		t.Errorf("errors.As(FieldError) = %+v, want the first error", fe)
	}
}

func asError(ve *ValidationError) error { return ve }

// TestValidationErrorFormat pins the documented format of Error: one
// "path: msg" per line, which `weir validate` prints as is.
func TestValidationErrorFormat(t *testing.T) {
	ve := &ValidationError{Errors: []FieldError{{Path: "a.b", Msg: "must be > 0"}, {Path: "c", Msg: "unknown key"}}}
	if got, want := ve.Error(), "a.b: must be > 0\nc: unknown key"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if ve.Has("a") || !ve.Has("c") {
		t.Fatal("Has must match whole paths only")
	}
}
