package load

import (
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// tally counts a mode's failures and keeps the first one for the report.
// It is safe for concurrent use.
type tally struct {
	errors     atomic.Int64
	mismatches atomic.Int64
	mu         sync.Mutex
	first      error
}

func (t *tally) add(err error) {
	if err == nil {
		return
	}
	t.errors.Add(1)
	if errors.Is(err, ErrMismatch) {
		t.mismatches.Add(1)
	}
	t.mu.Lock()
	if t.first == nil {
		t.first = err
	}
	t.mu.Unlock()
}

func (t *tally) firstError() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first == nil {
		return ""
	}
	return t.first.Error()
}

// percentile returns the nearest-rank q-quantile of sorted samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func micros(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)*10) / 10
}

// summarize sorts samples in place and returns the latency summary.
func summarize(samples []time.Duration) Percentiles {
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	var mean time.Duration
	if len(samples) > 0 {
		mean = sum / time.Duration(len(samples))
	}
	return Percentiles{
		Samples: len(samples),
		MeanUS:  micros(mean),
		P50US:   micros(percentile(samples, 0.50)),
		P90US:   micros(percentile(samples, 0.90)),
		P99US:   micros(percentile(samples, 0.99)),
		P999US:  micros(percentile(samples, 0.999)),
		MaxUS:   micros(percentile(samples, 1)),
	}
}

// Percentiles summarizes a latency distribution in microseconds.
type Percentiles struct {
	Samples int     `json:"samples"`
	MeanUS  float64 `json:"mean_us"`
	P50US   float64 `json:"p50_us"`
	P90US   float64 `json:"p90_us"`
	P99US   float64 `json:"p99_us"`
	P999US  float64 `json:"p999_us"`
	MaxUS   float64 `json:"max_us"`
}
