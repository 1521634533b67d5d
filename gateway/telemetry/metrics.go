package telemetry

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Metrics is the set of metrics a weir process exports. The zero value is
// not usable: use NewMetrics.
type Metrics struct {
	ConnectionsAccepted *Counter
	ConnectionsActive   *Gauge
	SessionsActive      *Gauge
	SessionsTotal       *CounterVec // route
	HandshakeRejected   *CounterVec // status
	CloseSent           *CounterVec // leg, code
	FramesRelayed       *CounterVec // direction
	BytesRelayed        *CounterVec // direction
	BackendDialErrors   *CounterVec // backend
	FilterErrors        *CounterVec // filter
	// ReloadDrainClosed counts sessions closed (1012 on both legs; a tunnel
	// is hung up) because they were still on a replaced configuration when
	// reload.drain_timeout ran out.
	ReloadDrainClosed *Counter
	// PipeFallbacks counts tunnel bursts relayed through a buffer because
	// no pipe could be made (the process was at its open-file limit).
	PipeFallbacks *Counter

	mu   sync.Mutex
	all  []metric
	seen map[string]bool
}

type metric interface {
	write(w io.Writer)
}

// NewMetrics returns weir's metrics, all zero.
func NewMetrics() *Metrics {
	m := &Metrics{seen: map[string]bool{}}
	m.ConnectionsAccepted = m.counter("weir_connections_accepted_total", "Client TCP connections accepted.")
	m.ConnectionsActive = m.gauge("weir_connections_active", "Client TCP connections open now.")
	m.SessionsActive = m.gauge("weir_sessions_active", "WebSocket sessions open now.")
	m.SessionsTotal = m.counterVec("weir_sessions_total", "WebSocket sessions opened.", "route")
	m.HandshakeRejected = m.counterVec("weir_handshakes_rejected_total", "Handshakes answered with an HTTP error.", "status")
	m.CloseSent = m.counterVec("weir_close_frames_sent_total", "Close frames weir sent.", "leg", "code")
	m.FramesRelayed = m.counterVec("weir_frames_relayed_total", "Data frames relayed.", "direction")
	m.BytesRelayed = m.counterVec("weir_payload_bytes_relayed_total", "Payload bytes relayed.", "direction")
	m.BackendDialErrors = m.counterVec("weir_backend_errors_total", "Failed backend connections or handshakes.", "backend")
	m.FilterErrors = m.counterVec("weir_filter_errors_total", "Filter failures (errors, traps, timeouts).", "filter")
	m.ReloadDrainClosed = m.counter("weir_reload_drain_closed_total", "Sessions closed with 1012 (tunnels hung up) because they outlived reload.drain_timeout on a replaced configuration.")
	m.PipeFallbacks = m.counter("weir_tunnel_pipe_fallbacks_total", "Tunnel bursts relayed through a buffer because no pipe could be made (open-file limit).")
	return m
}

func (m *Metrics) register(name string, x metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[name] {
		panic("telemetry: metric registered twice: " + name)
	}
	m.seen[name] = true
	m.all = append(m.all, x)
}

func (m *Metrics) counter(name, help string) *Counter {
	c := &Counter{name: name, help: help}
	m.register(name, c)
	return c
}

func (m *Metrics) gauge(name, help string) *Gauge {
	g := &Gauge{name: name, help: help}
	m.register(name, g)
	return g
}

func (m *Metrics) counterVec(name, help string, labels ...string) *CounterVec {
	v := &CounterVec{name: name, help: help, labels: labels, m: map[string]*atomic.Int64{}}
	m.register(name, v)
	return v
}

// WritePrometheus writes every metric in the Prometheus text format 0.0.4.
func (m *Metrics) WritePrometheus(w io.Writer) {
	m.mu.Lock()
	all := append([]metric(nil), m.all...)
	m.mu.Unlock()
	for _, x := range all {
		x.write(w)
	}
}

// Counter only goes up.
type Counter struct {
	name, help string
	v          atomic.Int64
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Value returns the current count.
func (c *Counter) Value() int64 { return c.v.Load() }

func (c *Counter) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v.Load())
}

// Gauge goes up and down.
type Gauge struct {
	name, help string
	v          atomic.Int64
}

// Add adds d (which may be negative).
func (g *Gauge) Add(d int64) { g.v.Add(d) }

// Value returns the current value.
func (g *Gauge) Value() int64 { return g.v.Load() }

func (g *Gauge) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", g.name, g.help, g.name, g.name, g.v.Load())
}

// CounterVec is a counter per combination of label values. Label values must
// come from a small closed set (route names, status codes), never from
// client input, so that the set of series stays bounded.
type CounterVec struct {
	name, help string
	labels     []string
	mu         sync.RWMutex
	m          map[string]*atomic.Int64
}

// With returns the counter for the label values, in the order the labels
// were declared.
func (v *CounterVec) With(values ...string) *atomic.Int64 {
	key := strings.Join(values, "\xff")
	v.mu.RLock()
	c := v.m[key]
	v.mu.RUnlock()
	if c != nil {
		return c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c = v.m[key]; c == nil {
		c = new(atomic.Int64)
		v.m[key] = c
	}
	return c
}

// Value returns the count for the label values.
func (v *CounterVec) Value(values ...string) int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c := v.m[strings.Join(values, "\xff")]; c != nil {
		return c.Load()
	}
	return 0
}

func (v *CounterVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", v.name, v.help, v.name)
	v.mu.RLock()
	keys := make([]string, 0, len(v.m))
	for k := range v.m {
		keys = append(keys, k)
	}
	v.mu.RUnlock()
	sort.Strings(keys)
	for _, k := range keys {
		vals := strings.Split(k, "\xff")
		var b strings.Builder
		for i, l := range v.labels {
			if i > 0 {
				b.WriteByte(',')
			}
			val := ""
			if i < len(vals) {
				val = vals[i]
			}
			fmt.Fprintf(&b, "%s=%q", l, val)
		}
		v.mu.RLock()
		n := v.m[k].Load()
		v.mu.RUnlock()
		fmt.Fprintf(w, "%s{%s} %d\n", v.name, b.String(), n)
	}
}
