package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// maxCycleSamples bounds the cycle times one Connect worker keeps.
const maxCycleSamples = 1 << 20

// ConnectConfig configures Connect.
type ConnectConfig struct {
	Dialer *Dialer
	// Workers run cycles in parallel; Size is the echo's payload size.
	Workers, Size int
	Duration      time.Duration
}

// ConnectResult is what Connect measured. A handshake is one whole cycle:
// TCP connect, upgrade, one verified echo, closing handshake.
type ConnectResult struct {
	Mode           string  `json:"mode"`
	Workers        int     `json:"workers"`
	DurationS      float64 `json:"duration_s"`
	Handshakes     int64   `json:"handshakes"`
	HandshakesPerS float64 `json:"handshakes_per_s"`
	CycleP50US     float64 `json:"cycle_p50_us"`
	CycleP99US     float64 `json:"cycle_p99_us"`
	Errors         int64   `json:"errors"`
	Mismatches     int64   `json:"mismatches"`
	FirstError     string  `json:"first_error,omitempty"`
}

// Connect runs cfg.Workers loops of dial → upgrade → one echo → close for
// cfg.Duration. Failed cycles are counted, not retried.
func Connect(ctx context.Context, cfg ConnectConfig) (ConnectResult, error) {
	res := ConnectResult{Mode: "connect", Workers: cfg.Workers}
	if cfg.Dialer == nil || cfg.Workers <= 0 || cfg.Size < 0 || cfg.Duration <= 0 {
		return res, fmt.Errorf("%w: connect needs a dialer, workers and duration > 0", ErrConfig)
	}
	var (
		t     tally
		done  atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		times = make([][]time.Duration, cfg.Workers)
	)
	start := time.Now()
	for w := range cfg.Workers {
		wg.Go(func() {
			pat := newPattern(cfg.Size, uint64(w)+1)
			for i := w; ; i += cfg.Workers {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				began := time.Now()
				if err := cycle(ctx, cfg.Dialer, i, pat.stamp(uint64(i))); err != nil {
					t.add(err)
					// A target that refuses at once must not turn this
					// loop into a spin.
					time.Sleep(time.Millisecond)
					continue
				}
				done.Add(1)
				if len(times[w]) < maxCycleSamples {
					times[w] = append(times[w], time.Since(began))
				}
			}
		})
	}
	waitFor(ctx, cfg.Duration)
	elapsed := time.Since(start)
	res.Handshakes = done.Load()
	close(stop)
	wg.Wait()
	var all []time.Duration
	for _, ts := range times {
		all = append(all, ts...)
	}
	p := summarize(all)
	res.DurationS = elapsed.Seconds()
	res.HandshakesPerS = float64(res.Handshakes) / elapsed.Seconds()
	res.CycleP50US, res.CycleP99US = p.P50US, p.P99US
	res.Errors, res.Mismatches, res.FirstError = t.errors.Load(), t.mismatches.Load(), t.firstError()
	return res, ctx.Err()
}

// cycle is one connect-mode iteration. The connection's deadline bounds the
// echo; Close bounds the closing handshake.
func cycle(ctx context.Context, d *Dialer, i int, payload []byte) error {
	c, err := d.Dial(ctx, i)
	if err != nil {
		return err
	}
	stopWatch := context.AfterFunc(ctx, func() { _ = c.nc.Close() })
	defer stopWatch()
	if err := c.nc.SetDeadline(time.Now().Add(DefaultCloseTimeout)); err != nil {
		_ = c.nc.Close()
		return fmt.Errorf("load: connect: %w", err)
	}
	if err := c.Echo(payload); err != nil {
		_ = c.nc.Close()
		return err
	}
	return c.Close(DefaultCloseTimeout)
}

// Probe checks that d's target answers an echo, retrying until it does or
// ctx ends; it returns the last failure. Scripts use it to wait for a
// freshly started proxy.
func Probe(ctx context.Context, d *Dialer) error {
	pat := newPattern(64, 1)
	var last error
	for try := uint64(0); ; try++ {
		if last = cycle(ctx, d, int(try), pat.stamp(try)); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("load: probe %s: %w (last: %w)", d.URL, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
