package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/weirproxy/weir/filters"
	"github.com/weirproxy/weir/gateway/balance"
	"github.com/weirproxy/weir/gateway/config"
	"github.com/weirproxy/weir/gateway/internal/httphead"
)

// generation is an immutable snapshot of everything built from one
// configuration. Sessions hold a reference to the generation they started
// with; the generation's resources (filter factories holding WASM
// instances, say) are released when it was retired and its last session
// ended — by reference count, never by a finalizer.
type generation struct {
	id     uint64
	cfg    *config.Gateway
	routes []*route
	// trusted are server.trusted_proxies, parsed once (validated CIDRs).
	trusted []netip.Prefix

	refs    atomic.Int64 // 1 for "current" + 1 per session
	release sync.Once
}

// route is a configured route, compiled.
type route struct {
	name       string
	cfg        config.Route
	listener   string
	host       string // lower case, without port; "*.x" wildcard
	tunnel     bool
	origins    map[string]bool
	anyOrigin  bool
	pool       *balance.Pool
	chain      *filters.Chain
	maxMessage int64
	maxFrame   int64
	backendTLS bool
}

// buildGeneration compiles cfg. It fails as a whole: nothing of a failed
// build is used.
func (s *Server) buildGeneration(ctx context.Context, cfg *config.Gateway) (*generation, error) {
	g := &generation{id: s.genSeq.Add(1), cfg: cfg}
	var errs []error
	for i, c := range cfg.Server.TrustedProxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("server.trusted_proxies[%d]: %w", i, err))
			continue
		}
		g.trusted = append(g.trusted, p)
	}
	for i := range cfg.Routes {
		rc := cfg.Routes[i]
		r := &route{
			name:       rc.Name,
			cfg:        rc,
			listener:   rc.Listener,
			host:       strings.ToLower(rc.Match.Host),
			tunnel:     rc.Relay == "tunnel",
			origins:    map[string]bool{},
			maxMessage: int64(rc.Limits.MaxMessageBytes),
			maxFrame:   int64(rc.Limits.MaxFrameBytes),
		}
		for _, o := range rc.Origins {
			if o == "*" {
				r.anyOrigin = true
			}
			r.origins[strings.ToLower(o)] = true
		}
		if rc.Serve == "" {
			members := make([]balance.Backend, 0, len(rc.Backends.Members))
			for _, m := range rc.Backends.Members {
				addr := m.Address
				if addr == "builtin:echo" {
					a, err := s.builtinEcho()
					if err != nil {
						errs = append(errs, fmt.Errorf("routes[%d].backends: %w", i, err))
						continue
					}
					addr = a
				}
				members = append(members, balance.Backend{Address: addr, Weight: m.Weight, TLS: m.TLS})
			}
			r.pool = balance.NewPool(s.backendState, members)
		}
		chain, err := s.buildChain(ctx, i, rc)
		if err != nil {
			errs = append(errs, err)
		}
		r.chain = chain
		if r.tunnel && chain.Len() > 0 {
			errs = append(errs, fmt.Errorf("routes[%d].filters: a tunnel route carries no frames to filter; use relay: frames", i))
		}
		g.routes = append(g.routes, r)
	}
	if len(errs) > 0 {
		g.releaseNow(ctx)
		return nil, errors.Join(errs...)
	}
	g.refs.Store(1)
	return g, nil
}

func (s *Server) buildChain(ctx context.Context, i int, rc config.Route) (*filters.Chain, error) {
	var entries []filters.Entry
	var errs []error
	for j, fc := range rc.Filters {
		raw, err := json.Marshal(fc.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("routes[%d].filters[%d].config: %w", i, j, err))
			continue
		}
		if fc.Config == nil {
			raw = nil
		}
		var f filters.Factory
		var name string
		switch {
		case fc.Native != "":
			name = fc.Native
			info, ok := s.deps.Filters.Lookup(fc.Native)
			if !ok {
				errs = append(errs, fmt.Errorf("routes[%d].filters[%d].native: unknown filter %q (known: %s)", i, j, fc.Native, strings.Join(s.deps.Filters.Names(), ", ")))
				continue
			}
			f, err = info.New(raw)
		case fc.Wasm != "":
			name = fc.Wasm
			if s.deps.LoadWasm == nil {
				err = errors.New("WASM filters are not available in this build")
			} else {
				f, err = s.deps.LoadWasm(ctx, fc.Wasm, raw)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("routes[%d].filters[%d]: %w", i, j, err))
			continue
		}
		e := filters.Entry{Name: name, Factory: f}
		switch fc.Directions {
		case "client_to_backend":
			e.Dirs = filters.ClientToBackend
		case "backend_to_client":
			e.Dirs = filters.BackendToClient
		default:
			e.Dirs = filters.BothDirections
		}
		if fc.OnError == "skip" {
			e.OnError = filters.FailSkip
		}
		entries = append(entries, e)
	}
	chain := filters.NewChain(entries...)
	if len(errs) > 0 {
		_ = chain.Release(ctx)
		return nil, errors.Join(errs...)
	}
	return chain, nil
}

// acquire takes a reference for a session; false when the generation is
// already released (the caller retries with the current one).
func (g *generation) acquire() bool {
	for {
		n := g.refs.Load()
		if n <= 0 {
			return false
		}
		if g.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// drop releases one reference; the last one releases the resources.
func (g *generation) drop(ctx context.Context) {
	if g.refs.Add(-1) == 0 {
		g.releaseNow(ctx)
	}
}

func (g *generation) releaseNow(ctx context.Context) {
	g.release.Do(func() {
		for _, r := range g.routes {
			_ = r.chain.Release(ctx)
		}
	})
}

// match returns the first route of the listener that takes req, or nil.
func (g *generation) match(listener string, req *httphead.Request, path string) *route {
	host := strings.ToLower(hostOnly(req.Get("Host")))
	var offered []string
	for _, r := range g.routes {
		if r.listener != "" && r.listener != listener {
			continue
		}
		m := &r.cfg.Match
		if r.host != "" && !hostMatches(r.host, host) {
			continue
		}
		if m.Path != "" && path != m.Path {
			continue
		}
		if m.PathPrefix != "" && !prefixMatches(m.PathPrefix, path) {
			continue
		}
		if !headersMatch(m.Headers, req) {
			continue
		}
		if len(m.Subprotocols) > 0 {
			if offered == nil {
				offered, _ = httphead.Tokens(req.Values("Sec-WebSocket-Protocol"))
				if offered == nil {
					offered = []string{}
				}
			}
			if !anyIn(m.Subprotocols, offered) {
				continue
			}
		}
		return r
	}
	return nil
}

// trusts reports whether the peer is a trusted proxy whose forwarding
// headers weir believes (SECURITY-CASES B-03).
func (g *generation) trusts(peer netip.AddrPort) bool {
	a := peer.Addr().Unmap()
	for _, p := range g.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

func hostMatches(pattern, host string) bool {
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+rest)
	}
	return pattern == host
}

// prefixMatches matches at a path-segment boundary: /echo takes /echo and
// /echo/x but not /echoes.
func prefixMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

func headersMatch(want map[string]string, req *httphead.Request) bool {
	for k, v := range want {
		if req.Count(k) != 1 || req.Get(k) != v {
			return false
		}
	}
	return true
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}
