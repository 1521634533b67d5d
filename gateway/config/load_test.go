package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// exampleFile is the documented example at the repository root.
const exampleFile = "../../gateway.yaml"

func mustLoad(t *testing.T, opts LoadOptions) *Gateway {
	t.Helper()
	g, err := Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return g
}

// loadErrors loads opts, requires a *ValidationError and returns it.
func loadErrors(t *testing.T, opts LoadOptions) *ValidationError {
	t.Helper()
	g, err := Load(opts)
	if err == nil {
		t.Fatalf("Load succeeded (%+v), want an error", g)
	}
	if g != nil {
		t.Errorf("Load returned a Gateway along with an error")
	}
	return validationErrors(t, err)
}

func requirePaths(t *testing.T, ve *ValidationError, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if !ve.Has(p) {
			t.Errorf("no error at %q; got:\n%v", p, ve)
		}
	}
}

func TestDefaultYAML(t *testing.T) {
	g := mustLoad(t, LoadOptions{Data: DefaultYAML})
	if len(g.Listeners) != 1 || g.Listeners[0].Name != "public" || g.Listeners[0].Address != "127.0.0.1:8080" {
		t.Errorf("listeners = %+v, want public at 127.0.0.1:8080", g.Listeners)
	}
	if g.Admin.Address != "127.0.0.1:9901" {
		t.Errorf("admin address = %q", g.Admin.Address)
	}
	if len(g.Routes) != 2 {
		t.Fatalf("got %d routes, want echo then demo", len(g.Routes))
	}
	echo, demo := g.Routes[0], g.Routes[1]
	if echo.Name != "echo" || echo.Match.PathPrefix != "/echo" || len(echo.Backends.Members) != 1 || echo.Backends.Members[0].Address != BuiltinEcho {
		t.Errorf("first route = %+v, want echo at /echo with builtin:echo", echo)
	}
	if demo.Name != "demo" || demo.Match.Path != "/" || demo.Serve != "demo_page" {
		t.Errorf("second route = %+v, want demo at / serving demo_page", demo)
	}
}

func TestExampleLoads(t *testing.T) {
	g := mustLoad(t, LoadOptions{File: exampleFile})
	if len(g.Routes) == 0 || len(g.Listeners) == 0 {
		t.Fatalf("example has no routes or listeners: %+v", g)
	}
}

// TestExampleDocumentsEveryKey fails when a key is added to the schema but
// not to gateway.yaml (commented-out keys count: TLS needs files).
func TestExampleDocumentsEveryKey(t *testing.T) {
	text, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[reflect.Type]bool)
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("koanf")
			re := regexp.MustCompile(`(?m)^[\s#-]*` + regexp.QuoteMeta(tag) + `:`)
			if !re.Match(text) {
				t.Errorf("gateway.yaml does not document %s", joinPath(path, tag))
			}
			walk(joinPath(path, tag), f.Type)
		}
	}
	walk("", reflect.TypeFor[Gateway]())
}

func TestDefaults(t *testing.T) {
	g := mustLoad(t, LoadOptions{Data: []byte(`
listeners: [{name: a, address: "127.0.0.1:0"}]
routes:
  - name: one
    backends: {members: [{address: "127.0.0.1:1"}, {address: "127.0.0.1:2"}]}
    filters: [{native: x}, {wasm: y.wasm}]
  - name: two
    limits: {messages_per_second: 10}
    backends: {members: [{address: builtin:echo}]}
  - name: three
    limits: {messages_per_second: 0.2}
    backends: {members: [{address: builtin:echo}]}
`)})
	s := g.Server
	if s.MaxConnections != 10000 || s.HandshakeTimeout != 10*time.Second || s.MaxHeaderBytes != 16<<10 ||
		s.MaxHeaders != 100 || s.DrainTimeout != 15*time.Second || s.CloseTimeout != 5*time.Second {
		t.Errorf("server defaults = %+v", s)
	}
	if g.Admin.Address != "127.0.0.1:9901" {
		t.Errorf("admin default = %q", g.Admin.Address)
	}
	if g.Plugins.CallTimeout != 10*time.Millisecond || g.Plugins.MemoryLimit != 16<<20 {
		t.Errorf("plugins defaults = %+v", g.Plugins)
	}
	if g.Reload != (Reload{Watch: true, Interval: time.Second}) {
		t.Errorf("reload defaults = %+v", g.Reload)
	}
	if g.Telemetry.Logs != (Logs{Format: "text", Level: "info"}) {
		t.Errorf("logs defaults = %+v", g.Telemetry.Logs)
	}
	for i, r := range g.Routes {
		if r.Relay != "frames" || r.AllowMissingOrigin == nil || !*r.AllowMissingOrigin {
			t.Errorf("routes[%d] relay/origin defaults = %q, %v", i, r.Relay, r.AllowMissingOrigin)
		}
		l := r.Limits
		if l.MaxFrameBytes != 1<<20 || l.MaxMessageBytes != 1<<20 || l.IdleTimeout != 5*time.Minute ||
			l.PingInterval != 30*time.Second || l.PongTimeout != 15*time.Second || l.WriteTimeout != 10*time.Second {
			t.Errorf("routes[%d] limits defaults = %+v", i, l)
		}
		if r.Timeouts != (Timeouts{Connect: 5 * time.Second, Handshake: 10 * time.Second}) {
			t.Errorf("routes[%d] timeouts defaults = %+v", i, r.Timeouts)
		}
		if r.Backends.Balance != "round_robin" {
			t.Errorf("routes[%d] balance default = %q", i, r.Backends.Balance)
		}
		for j, m := range r.Backends.Members {
			if m.Weight != 1 {
				t.Errorf("routes[%d].backends.members[%d] weight default = %d", i, j, m.Weight)
			}
		}
		for j, f := range r.Filters {
			if f.Directions != "both" || f.OnError != "close" {
				t.Errorf("routes[%d].filters[%d] defaults = %+v", i, j, f)
			}
		}
	}
	small := mustLoad(t, LoadOptions{Data: []byte(overrideBase), Sets: []string{"routes.0.limits.max_message_bytes=4KiB"}})
	if l := small.Routes[0].Limits; l.MaxFrameBytes != 4<<10 {
		t.Errorf("max_frame_bytes default with max_message_bytes 4KiB = %s, want 4KiB", l.MaxFrameBytes)
	}
	for i, want := range []int{0, 20, 1} {
		if got := g.Routes[i].Limits.Burst; got != want {
			t.Errorf("routes[%d] burst = %d, want %d", i, got, want)
		}
	}
}

// TestExplicitZeroKept checks that defaults fill only absent keys: a zero
// that means something stays, and a zero that is invalid is reported.
func TestExplicitZeroKept(t *testing.T) {
	g := mustLoad(t, LoadOptions{Data: []byte(`
listeners: [{name: a, address: "127.0.0.1:0"}]
admin: {address: ""}
routes:
  - name: r
    limits: {ping_interval: 0s, messages_per_second: 4, burst: 3}
    allow_missing_origin: false
    backends: {members: [{address: builtin:echo, weight: 0}, {address: builtin:echo, weight: 3}]}
`)})
	r := g.Routes[0]
	if g.Admin.Address != "" {
		t.Errorf("admin address = %q, want disabled", g.Admin.Address)
	}
	if r.Limits.PingInterval != 0 || r.Limits.Burst != 3 {
		t.Errorf("limits = %+v, want ping_interval 0 and burst 3 kept", r.Limits)
	}
	if *r.AllowMissingOrigin {
		t.Errorf("allow_missing_origin = true, want false kept")
	}
	if r.Backends.Members[0].Weight != 0 || r.Backends.Members[1].Weight != 3 {
		t.Errorf("weights = %+v", r.Backends.Members)
	}

	ve := loadErrors(t, LoadOptions{Data: []byte(`
listeners: [{name: a, address: "127.0.0.1:0"}]
server: {max_connections: 0}
routes: [{name: r, limits: {burst: 0, messages_per_second: 5}, backends: {members: [{address: builtin:echo}]}}]
`)})
	requirePaths(t, ve, "server.max_connections", "routes[0].limits.burst")
}

const overrideBase = `
listeners:
  - {name: public, address: "127.0.0.1:0"}
  - {name: internal, address: "127.0.0.1:0"}
server: {max_connections: 100}
routes:
  - name: chat
    backends: {members: [{address: "127.0.0.1:9001"}]}
    filters: [{native: size_limit, config: {max_bytes: 10}}]
  - name: echo
    backends: {members: [{address: builtin:echo}]}
`

func TestPrecedence(t *testing.T) {
	env := []string{"WEIR_SERVER_MAX_CONNECTIONS=200"}
	sets := []string{"server.max_connections=300"}
	tests := []struct {
		name string
		opts LoadOptions
		want int
	}{
		{"default", LoadOptions{Data: []byte(`listeners: [{name: a, address: "127.0.0.1:0"}]`)}, 10000},
		{"file over default", LoadOptions{Data: []byte(overrideBase)}, 100},
		{"env over file", LoadOptions{Data: []byte(overrideBase), Env: env}, 200},
		{"set over env", LoadOptions{Data: []byte(overrideBase), Env: env, Sets: sets}, 300},
		{"set over file", LoadOptions{Data: []byte(overrideBase), Sets: sets}, 300},
		{"later set wins", LoadOptions{Data: []byte(overrideBase), Sets: []string{"server.max_connections=1", "server.max_connections=2"}}, 2},
		{"later env wins", LoadOptions{Data: []byte(overrideBase), Env: []string{"WEIR_SERVER_MAX_CONNECTIONS=1", "WEIR_SERVER_MAX_CONNECTIONS=2"}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.opts).Server.MaxConnections; got != tt.want {
				t.Fatalf("max_connections = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFileWinsOverData(t *testing.T) {
	g := mustLoad(t, LoadOptions{File: exampleFile, Data: []byte("not: [valid")})
	if len(g.Routes) == 0 {
		t.Fatal("Data was used instead of File")
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		env   string
		check func(g *Gateway) bool
	}{
		{"WEIR_SERVER_MAX_CONNECTIONS=5", func(g *Gateway) bool { return g.Server.MaxConnections == 5 }},
		{"WEIR_SERVER_MAX_HEADER_BYTES=32KiB", func(g *Gateway) bool { return g.Server.MaxHeaderBytes == 32<<10 }},
		{"WEIR_SERVER_MAX_HEADERS=7", func(g *Gateway) bool { return g.Server.MaxHeaders == 7 }},
		{"WEIR_SERVER_HANDSHAKE_TIMEOUT=1m30s", func(g *Gateway) bool { return g.Server.HandshakeTimeout == 90*time.Second }},
		{"WEIR_SERVER_TRUSTED_PROXIES=10.0.0.0/8, 192.168.0.0/16", func(g *Gateway) bool {
			return reflect.DeepEqual(g.Server.TrustedProxies, []string{"10.0.0.0/8", "192.168.0.0/16"})
		}},
		{"WEIR_ROUTES_0_LIMITS_MAX_MESSAGE_BYTES=2MiB", func(g *Gateway) bool { return g.Routes[0].Limits.MaxMessageBytes == 2<<20 }},
		{"WEIR_ROUTES_1_LIMITS_MESSAGES_PER_SECOND=2.5", func(g *Gateway) bool {
			return g.Routes[1].Limits.MessagesPerSecond == 2.5 && g.Routes[1].Limits.Burst == 5
		}},
		{"WEIR_LISTENERS_1_ADDRESS=127.0.0.1:9", func(g *Gateway) bool { return g.Listeners[1].Address == "127.0.0.1:9" }},
		{"WEIR_ADMIN_ADDRESS=", func(g *Gateway) bool { return g.Admin.Address == "" }},
		{"WEIR_ROUTES_0_ALLOW_MISSING_ORIGIN=false", func(g *Gateway) bool { return !*g.Routes[0].AllowMissingOrigin }},
		{"WEIR_ROUTES_0_ORIGINS=https://a.example,https://b.example", func(g *Gateway) bool {
			return reflect.DeepEqual(g.Routes[0].Origins, []string{"https://a.example", "https://b.example"})
		}},
		{"WEIR_ROUTES_0_BACKENDS_MEMBERS_0_TLS=true", func(g *Gateway) bool { return g.Routes[0].Backends.Members[0].TLS }},
		{"WEIR_ROUTES_0_BACKENDS_MEMBERS_0_WEIGHT=4", func(g *Gateway) bool { return g.Routes[0].Backends.Members[0].Weight == 4 }},
		{"WEIR_ROUTES_0_FILTERS_0_ON_ERROR=skip", func(g *Gateway) bool { return g.Routes[0].Filters[0].OnError == "skip" }},
		{"WEIR_ROUTES_0_MATCH_PATH_PREFIX=/ws", func(g *Gateway) bool { return g.Routes[0].Match.PathPrefix == "/ws" }},
		{"WEIR_PLUGINS_CALL_TIMEOUT=20ms", func(g *Gateway) bool { return g.Plugins.CallTimeout == 20*time.Millisecond }},
		{"WEIR_PLUGINS_MEMORY_LIMIT=1MB", func(g *Gateway) bool { return g.Plugins.MemoryLimit == 1000000 }},
		{"WEIR_RELOAD_WATCH=false", func(g *Gateway) bool { return !g.Reload.Watch }},
		{"WEIR_RELOAD_DRAIN_TIMEOUT=30s", func(g *Gateway) bool { return g.Reload.DrainTimeout == 30*time.Second }},
		{"WEIR_TELEMETRY_LOGS_LEVEL=debug", func(g *Gateway) bool { return g.Telemetry.Logs.Level == "debug" }},
		// Not ours: ignored.
		{"PATH=/bin", func(g *Gateway) bool { return true }},
		{"weir_server_max_connections=lots", func(g *Gateway) bool { return g.Server.MaxConnections == 100 }},
		{"NOEQUALS", func(g *Gateway) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			g := mustLoad(t, LoadOptions{Data: []byte(overrideBase), Env: []string{tt.env}})
			if !tt.check(g) {
				t.Fatalf("%s not applied: %+v", tt.env, g)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env  string
		path string
	}{
		{"WEIR_SERVER_MAX_CONECTIONS=5", "WEIR_SERVER_MAX_CONECTIONS"},
		{"WEIR_=5", "WEIR_"},
		{"WEIR_SERVER=5", "WEIR_SERVER"},
		{"WEIR_ROUTES=5", "WEIR_ROUTES"},
		{"WEIR_ROUTES_0=5", "WEIR_ROUTES_0"},
		{"WEIR_ROUTES_X_NAME=a", "WEIR_ROUTES_X_NAME"},
		{"WEIR_ROUTES_00_NAME=a", "WEIR_ROUTES_00_NAME"},
		{"WEIR_ROUTES_2_NAME=a", "WEIR_ROUTES_2_NAME"},
		{"WEIR_LISTENERS_5_ADDRESS=127.0.0.1:1", "WEIR_LISTENERS_5_ADDRESS"},
		{"WEIR_ROUTES_0_BACKENDS_MEMBERS_1_WEIGHT=2", "WEIR_ROUTES_0_BACKENDS_MEMBERS_1_WEIGHT"},
		{"WEIR_ROUTES_0_MATCH_HEADERS_X_TENANT=a", "WEIR_ROUTES_0_MATCH_HEADERS_X_TENANT"},
		{"WEIR_ROUTES_0_LIMITS_MAX_MESSAGE_BYTES_X=1", "WEIR_ROUTES_0_LIMITS_MAX_MESSAGE_BYTES_X"},
		{"WEIR_LISTENERS_0_TLS_CERTS_0_CERT=a.pem", "WEIR_LISTENERS_0_TLS_CERTS_0_CERT"},
		// Names that resolve but carry a bad value: the path is the key's.
		{"WEIR_SERVER_MAX_CONNECTIONS=lots", "server.max_connections"},
		{"WEIR_SERVER_DRAIN_TIMEOUT=20", "server.drain_timeout"},
		{"WEIR_ROUTES_0_LIMITS_MAX_FRAME_BYTES=-1", "routes[0].limits.max_frame_bytes"},
		{"WEIR_ROUTES_0_ALLOW_MISSING_ORIGIN=maybe", "routes[0].allow_missing_origin"},
		{"WEIR_ROUTES_0_LIMITS_MESSAGES_PER_SECOND=NaN", "routes[0].limits.messages_per_second"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			ve := loadErrors(t, LoadOptions{Data: []byte(overrideBase), Env: []string{tt.env}})
			requirePaths(t, ve, tt.path)
		})
	}
}

func TestSetOverrides(t *testing.T) {
	tests := []struct {
		set   string
		check func(g *Gateway) bool
	}{
		{"routes.0.limits.max_message_bytes=2MiB", func(g *Gateway) bool { return g.Routes[0].Limits.MaxMessageBytes == 2<<20 }},
		{"routes[1].match.path=/x", func(g *Gateway) bool { return g.Routes[1].Match.Path == "/x" }},
		{"routes.0.match.headers.X-Tenant=blue", func(g *Gateway) bool { return g.Routes[0].Match.Headers["X-Tenant"] == "blue" }},
		{"routes.0.filters.0.config.max_bytes=99", func(g *Gateway) bool {
			return g.Routes[0].Filters[0].Config["max_bytes"] == "99"
		}},
		{"routes.0.filters.0.config.a.b=1", func(g *Gateway) bool { return g.Routes[0].Filters[0].Config["a.b"] == "1" }},
		{"routes.0.match.subprotocols=a,b", func(g *Gateway) bool {
			return reflect.DeepEqual(g.Routes[0].Match.Subprotocols, []string{"a", "b"})
		}},
		{"telemetry.logs.format=json", func(g *Gateway) bool { return g.Telemetry.Logs.Format == "json" }},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			g := mustLoad(t, LoadOptions{Data: []byte(overrideBase), Sets: []string{tt.set}})
			if !tt.check(g) {
				t.Fatalf("%s not applied: %+v", tt.set, g)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		set  string
		path string
	}{
		{"routes.0.limits.max_mesage_bytes=1", "routes[0].limits.max_mesage_bytes"},
		{"serverx.max_connections=1", "serverx"},
		{"routes.5.name=x", "routes[5]"},
		{"routes.x.name=x", "routes"},
		{"routes.0.backends.members.3.weight=1", "routes[0].backends.members[3]"},
		{"server=1", "server"},
		{"routes=1", "routes"},
		{"routes.0.match.headers=1", "routes[0].match.headers"},
		{"server.max_connections.x=1", "server.max_connections.x"},
		{"server.max_connections=lots", "server.max_connections"},
		// The value is taken literally, spaces included, so this address
		// has a host of " 127.0.0.1".
		{"listeners.0.address = 127.0.0.1:7", "listeners[0].address"},
		{"noequals", "--set noequals"},
		{"=1", "--set =1"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			ve := loadErrors(t, LoadOptions{Data: []byte(overrideBase), Sets: []string{tt.set}})
			requirePaths(t, ve, tt.path)
		})
	}
}

// TestOverrideNeedsElement checks that an override never invents a list
// element, even when the file has no list at all.
func TestOverrideNeedsElement(t *testing.T) {
	ve := loadErrors(t, LoadOptions{
		Env:  []string{"WEIR_LISTENERS_0_ADDRESS=127.0.0.1:0"},
		Sets: []string{"routes.0.name=x"},
	})
	requirePaths(t, ve, "WEIR_LISTENERS_0_ADDRESS", "routes[0]", "listeners")
}

func TestDecodeErrors(t *testing.T) {
	head := "listeners: [{name: a, address: \"127.0.0.1:0\"}]\n"
	route := func(s string) string {
		return head + "routes:\n  - name: r\n    backends: {members: [{address: builtin:echo}]}\n" + s
	}
	tests := []struct {
		name string
		yaml string
		path string
	}{
		{"unknown top-level key", head + "listner: []\n", "listner"},
		{"unknown nested key", route("  - name: s\n    backends: {members: [{adress: 127.0.0.1:1}]}\n"), "routes[1].backends.members[0].adress"},
		{"unknown key in limits", route("    limits: {max_msg: 1}\n"), "routes[0].limits.max_msg"},
		{"section is a scalar", head + "server: 5\n", "server"},
		{"list is a mapping", "listeners: {name: a}\n", "listeners"},
		{"list element is null", "listeners: [~]\n", "listeners[0]"},
		{"string is a number", "listeners: [{name: 5, address: \"127.0.0.1:0\"}]\n", "listeners[0].name"},
		{"string is a list", "listeners: [{name: [a], address: \"127.0.0.1:0\"}]\n", "listeners[0].name"},
		{"int is a string", head + "server: {max_connections: \"10\"}\n", "server.max_connections"},
		{"int is a float", head + "server: {max_headers: 1.5}\n", "server.max_headers"},
		{"int is a bool", head + "server: {max_headers: true}\n", "server.max_headers"},
		{"duration is a bare integer", head + "server: {drain_timeout: 20}\n", "server.drain_timeout"},
		{"duration without unit in quotes", head + "server: {drain_timeout: \"20\"}\n", "server.drain_timeout"},
		{"duration is garbage", head + "plugins: {call_timeout: soon}\n", "plugins.call_timeout"},
		{"size is negative", head + "plugins: {memory_limit: -1}\n", "plugins.memory_limit"},
		{"size has bad unit", head + "plugins: {memory_limit: 1XB}\n", "plugins.memory_limit"},
		{"size is a float", head + "plugins: {memory_limit: 1.5}\n", "plugins.memory_limit"},
		{"size overflows", head + "plugins: {memory_limit: 18446744073709551615}\n", "plugins.memory_limit"},
		{"bool is a string", route("    allow_missing_origin: \"yes\"\n"), "routes[0].allow_missing_origin"},
		{"float is a string", route("    limits: {messages_per_second: fast}\n"), "routes[0].limits.messages_per_second"},
		{"float is infinite", route("    limits: {messages_per_second: .inf}\n"), "routes[0].limits.messages_per_second"},
		{"header value is a list", route("    match: {headers: {X-A: [1]}}\n"), "routes[0].match.headers.X-A"},
		{"header value is null", route("    match: {headers: {X-A: ~}}\n"), "routes[0].match.headers.X-A"},
		{"filter config is a list", route("    filters: [{native: x, config: [1]}]\n"), "routes[0].filters[0].config"},
		{"tls is a string", "listeners: [{name: a, address: \"127.0.0.1:0\", tls: yes}]\n", "listeners[0].tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ve := loadErrors(t, LoadOptions{Data: []byte(tt.yaml)})
			requirePaths(t, ve, tt.path)
		})
	}
}

// TestDecodeErrorHidesDerivedErrors checks that a value that failed to
// decode is reported once, not again by Validate as "must be > 0".
func TestDecodeErrorHidesDerivedErrors(t *testing.T) {
	ve := loadErrors(t, LoadOptions{Data: []byte("listeners: [{name: a, address: \"127.0.0.1:0\"}]\nserver: {drain_timeout: 20}\n")})
	if len(ve.Errors) != 1 || ve.Errors[0].Path != "server.drain_timeout" {
		t.Fatalf("got %v, want one error at server.drain_timeout", ve)
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	ve := loadErrors(t, LoadOptions{
		Data: []byte(`
listeners:
  - {name: a, address: nowhere}
  - {name: a, address: "127.0.0.1:0", colour: red}
server: {max_connections: many, drain_timeout: 15}
routes:
  - name: r
    listener: b
    relay: tunel
    backends: {members: [{adress: "127.0.0.1:1"}]}
telemetry: {logs: {level: loud}}
`),
		Env:  []string{"WEIR_NOPE=1"},
		Sets: []string{"plugins.shard=2"},
	})
	requirePaths(t, ve,
		"WEIR_NOPE",
		"plugins.shard",
		"listeners[0].address",
		"listeners[1].name",
		"listeners[1].colour",
		"server.max_connections",
		"server.drain_timeout",
		"routes[0].listener",
		"routes[0].relay",
		"routes[0].backends.members[0].adress",
		"routes[0].backends.members[0].address",
		"telemetry.logs.level",
	)
}

func TestLoadReadErrors(t *testing.T) {
	_, err := Load(LoadOptions{File: filepath.Join(t.TempDir(), "missing.yaml")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	for _, doc := range []string{"listeners: [", "- a\n- b\n", "5\n", "a: 1\na: 2\n", "\t- x"} {
		_, err := Load(LoadOptions{Data: []byte(doc)})
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Load(%q) = %v, want ErrSyntax", doc, err)
		}
	}
}

func TestLoadNothing(t *testing.T) {
	ve := loadErrors(t, LoadOptions{})
	requirePaths(t, ve, "listeners")
	ve = loadErrors(t, LoadOptions{Data: []byte("# only a comment\n")})
	requirePaths(t, ve, "listeners")
}

// TestDecoderCoversSchema fails when types.go gains a field of a type the
// decoder and the override resolver do not handle.
func TestDecoderCoversSchema(t *testing.T) {
	seen := make(map[reflect.Type]bool)
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		if typ == durationType || typ == sizeType || seen[typ] {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice:
			walk(path, typ.Elem())
		case reflect.Map:
			if typ.Key().Kind() != reflect.String {
				t.Errorf("%s: map keys must be strings", path)
			}
			walk(path, typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				f := typ.Field(i)
				tag := f.Tag.Get("koanf")
				if tag == "" || strings.ContainsAny(tag, ".[]") || tag != strings.ToLower(tag) {
					t.Errorf("%s.%s: koanf tag %q must be a lower-case key", path, f.Name, tag)
				}
				walk(joinPath(path, tag), f.Type)
			}
		case reflect.String, reflect.Bool, reflect.Int, reflect.Float64, reflect.Interface:
		default:
			t.Errorf("%s: the decoder does not handle %s", path, typ)
		}
	}
	walk("", reflect.TypeFor[Gateway]())
}
