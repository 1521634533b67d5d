package load

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// maxLatencySamples bounds the memory Latency keeps (8 bytes a sample).
const maxLatencySamples = 50_000_000

// LatencyConfig configures Latency.
type LatencyConfig struct {
	Dialer *Dialer
	// Rate is the aggregate send rate in messages per second, spread
	// evenly over Conns sessions; Size is the payload size in bytes.
	Rate  float64
	Conns int
	Size  int
	// Duration is how long the schedule runs; messages scheduled in the
	// first Warmup are sent and verified but not sampled.
	Duration, Warmup time.Duration
	// DrainTimeout bounds the wait for echoes in flight at the end.
	// Default DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// LatencyResult is what Latency measured.
type LatencyResult struct {
	Mode      string  `json:"mode"`
	Rate      float64 `json:"rate"`
	Conns     int     `json:"conns"`
	Size      int     `json:"size"`
	DurationS float64 `json:"duration_s"`
	Sent      int64   `json:"sent"`
	Received  int64   `json:"received"`
	// SendLagP99US is how late the sender itself was against its
	// schedule: when it is a large share of P99US the load generator, not
	// the target, is the bottleneck.
	SendLagP99US float64 `json:"send_lag_p99_us"`
	Percentiles
	Errors     int64  `json:"errors"`
	Mismatches int64  `json:"mismatches"`
	FirstError string `json:"first_error,omitempty"`
}

func (c *LatencyConfig) check() error {
	switch {
	case c.Dialer == nil:
		return fmt.Errorf("%w: no dialer", ErrConfig)
	case c.Rate <= 0 || c.Conns <= 0 || c.Size < 0 || c.Duration <= 0 || c.Warmup < 0:
		return fmt.Errorf("%w: rate, conns and duration must be > 0", ErrConfig)
	case c.Rate*c.Duration.Seconds() > maxLatencySamples:
		return fmt.Errorf("%w: rate × duration over %d samples", ErrConfig, maxLatencySamples)
	}
	return nil
}

// Latency runs an open-loop schedule: session i sends message k at
// start + i·interval/Conns + k·interval, with interval = Conns/Rate, whether
// or not earlier echoes came back. A message's latency runs from its
// scheduled time to the arrival of its verified echo, so time a message
// spent waiting behind a stall (in the target or in this process) counts.
func Latency(ctx context.Context, cfg LatencyConfig) (LatencyResult, error) {
	res := LatencyResult{Mode: "latency", Rate: cfg.Rate, Conns: cfg.Conns, Size: cfg.Size}
	if err := cfg.check(); err != nil {
		return res, err
	}
	drainTimeout := drainOr(cfg.DrainTimeout)
	conns, err := dialAll(ctx, cfg.Dialer, cfg.Conns)
	if err != nil {
		return res, fmt.Errorf("load: latency: %w", err)
	}
	defer closeOnDone(ctx, conns)()

	interval := time.Duration(float64(cfg.Conns) / cfg.Rate * float64(time.Second))
	// Start a little ahead so that the first sends are not already late.
	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(cfg.Duration)
	var (
		t        tally
		wg       sync.WaitGroup
		sessions = make([]*paceSession, len(conns))
	)
	for i, c := range conns {
		s := &paceSession{
			c: c, size: cfg.Size, seed: uint64(i) + 1, tally: &t,
			first:    start.Add(interval * time.Duration(i) / time.Duration(cfg.Conns)),
			interval: interval, sampleFrom: start.Add(cfg.Warmup),
			drainTimeout: drainTimeout,
		}
		s.n = s.count(end)
		sessions[i] = s
		wg.Go(func() { s.run(ctx) })
	}
	wg.Wait()
	res.DurationS = cfg.Duration.Seconds()

	var all, lags []time.Duration
	for _, s := range sessions {
		res.Sent += s.sent
		res.Received += s.received.Load()
		all = append(all, s.samples...)
		lags = append(lags, s.lags...)
	}
	res.Percentiles = summarize(all)
	res.SendLagP99US = summarize(lags).P99US
	res.Errors, res.Mismatches, res.FirstError = t.errors.Load(), t.mismatches.Load(), t.firstError()
	return res, ctx.Err()
}

// paceSession is one Latency session: run (the paced writer, and the
// owner) plus readEchoes (the reader it starts and waits for).
type paceSession struct {
	c            *Conn
	size         int
	seed         uint64
	tally        *tally
	first        time.Time
	interval     time.Duration
	sampleFrom   time.Time
	drainTimeout time.Duration
	n            int64 // messages on the schedule

	sent     int64
	received atomic.Int64
	stopping atomic.Bool
	notify   chan struct{}
	samples  []time.Duration // owned by the reader until it returns
	lags     []time.Duration // owned by the writer
}

func (s *paceSession) count(end time.Time) int64 {
	if !s.first.Before(end) {
		return 0
	}
	return int64((end.Sub(s.first)-1)/s.interval) + 1
}

func (s *paceSession) at(k int64) time.Time {
	return s.first.Add(time.Duration(k) * s.interval)
}

func (s *paceSession) run(ctx context.Context) {
	s.notify = make(chan struct{}, 1)
	s.samples = make([]time.Duration, 0, s.n)
	s.lags = make([]time.Duration, 0, s.n)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.readEchoes()
	}()

	pat := newPattern(s.size, s.seed)
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
send:
	for k := range s.n {
		due := s.at(k)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break send
			case <-readerDone:
				break send
			}
		}
		if lag := time.Since(due); !due.Before(s.sampleFrom) {
			s.lags = append(s.lags, lag)
		}
		if err := s.c.WriteMessage(ws.OpBinary, pat.stamp(uint64(k)), true); err != nil {
			s.tally.add(err)
			break
		}
		s.sent++
	}
	s.stopping.Store(true)
	if lost := drain(&s.received, s.sent, s.notify, readerDone, s.drainTimeout); lost > 0 {
		s.tally.add(fmt.Errorf("%w: %d of %d", ErrLost, lost, s.sent))
	}
	s.c.StopReader()
	<-readerDone
	if err := s.c.Close(DefaultCloseTimeout); err != nil {
		s.tally.add(err)
	}
}

func (s *paceSession) readEchoes() {
	pat := newPattern(s.size, s.seed)
	for k := int64(0); ; k++ {
		op, p, err := s.c.ReadMessage()
		if err != nil {
			if !isWakeUp(s.c, err) {
				s.tally.add(err)
			}
			return
		}
		now := time.Now()
		if op != ws.OpBinary || !bytes.Equal(p, pat.stamp(uint64(k))) {
			s.tally.add(fmt.Errorf("%w: echo %d differs (%d bytes)", ErrMismatch, k, len(p)))
			return
		}
		if due := s.at(k); !due.Before(s.sampleFrom) {
			s.samples = append(s.samples, now.Sub(due))
		}
		s.received.Add(1)
		if s.stopping.Load() {
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}
}
