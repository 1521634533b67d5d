package plugins

import (
	"sort"
	"sync"
	"sync/atomic"
)

// MetricKind is the kind of a guest-defined metric.
type MetricKind uint8

// Metric kinds, numbered as in the ABI (metric_define's kind).
const (
	Counter   MetricKind = 0
	Gauge     MetricKind = 1
	Histogram MetricKind = 2
)

func (k MetricKind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return "unknown"
}

// MetricValue is a snapshot of one guest-defined metric.
type MetricValue struct {
	Plugin string
	Name   string
	Kind   MetricKind
	// Value is the counter's or gauge's value, or a histogram's sum.
	Value int64
	// Count is the number of observations of a histogram (0 otherwise).
	Count int64
}

const maxMetricsPerPlugin = 1000

// metricRegistry holds guest-defined metrics, one table per plugin name. It
// belongs to the Host, so metrics survive plugin reloads.
type metricRegistry struct {
	mu     sync.Mutex
	tables map[string]*metricTable
}

// metricTable is one plugin's metrics. Lookups by id on the hot path read an
// immutable slice through an atomic pointer; definitions copy it.
type metricTable struct {
	mu     sync.Mutex
	byName map[string]int32
	list   atomic.Pointer[[]*metric]
}

type metric struct {
	name  string
	kind  MetricKind
	value atomic.Int64
	count atomic.Int64
}

func newMetricRegistry() *metricRegistry {
	return &metricRegistry{tables: map[string]*metricTable{}}
}

func (r *metricRegistry) table(plugin string) *metricTable {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tables[plugin]
	if t == nil {
		t = &metricTable{byName: map[string]int32{}}
		empty := []*metric{}
		t.list.Store(&empty)
		r.tables[plugin] = t
	}
	return t
}

// validMetricName accepts Prometheus-style names: [a-zA-Z_:][a-zA-Z0-9_:]*,
// at most 128 bytes.
func validMetricName(b []byte) bool {
	if len(b) == 0 || len(b) > 128 {
		return false
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// define returns the id of (kind, name), creating it; it returns a negative
// status on error.
func (t *metricTable) define(kind MetricKind, name []byte) int32 {
	if kind > Histogram || !validMetricName(name) {
		return -statusBadArgument
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.byName[string(name)]; ok {
		if (*t.list.Load())[id].kind != kind {
			return -statusBadArgument
		}
		return id
	}
	old := *t.list.Load()
	if len(old) >= maxMetricsPerPlugin {
		return -statusInternalFailure
	}
	next := make([]*metric, len(old), len(old)+1)
	copy(next, old)
	next = append(next, &metric{name: string(name), kind: kind})
	id := int32(len(old))
	t.byName[string(name)] = id
	t.list.Store(&next)
	return id
}

// add applies metric_add; unknown ids are ignored.
func (t *metricTable) add(id int32, v int64) {
	list := *t.list.Load()
	if id < 0 || int(id) >= len(list) {
		return
	}
	m := list[id]
	switch m.kind {
	case Counter:
		if v > 0 {
			m.value.Add(v)
		}
	case Gauge:
		m.value.Add(v)
	case Histogram:
		m.value.Add(v)
		m.count.Add(1)
	}
}

// snapshot returns every metric, sorted by plugin and name.
func (r *metricRegistry) snapshot() []MetricValue {
	r.mu.Lock()
	names := make([]string, 0, len(r.tables))
	for n := range r.tables {
		names = append(names, n)
	}
	tables := make([]*metricTable, 0, len(names))
	sort.Strings(names)
	for _, n := range names {
		tables = append(tables, r.tables[n])
	}
	r.mu.Unlock()
	var out []MetricValue
	for i, t := range tables {
		list := *t.list.Load()
		start := len(out)
		for _, m := range list {
			out = append(out, MetricValue{Plugin: names[i], Name: m.name, Kind: m.kind, Value: m.value.Load(), Count: m.count.Load()})
		}
		sort.Slice(out[start:], func(a, b int) bool { return out[start+a].Name < out[start+b].Name })
	}
	return out
}
