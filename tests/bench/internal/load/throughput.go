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

// DefaultDrainTimeout bounds how long a mode waits for echoes still in
// flight when its duration ends.
const DefaultDrainTimeout = 5 * time.Second

// ThroughputConfig configures Throughput.
type ThroughputConfig struct {
	Dialer *Dialer
	// Conns is the number of sessions, Window the echoes each keeps in
	// flight, Size the payload size in bytes.
	Conns, Window, Size int
	// Duration is the measured window; it starts once every session is
	// open.
	Duration time.Duration
	// DrainTimeout bounds the wait for echoes in flight at the end.
	// Default DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// ThroughputResult is what Throughput measured. Messages are echo round
// trips: one message to the server and the same one back.
type ThroughputResult struct {
	Mode      string  `json:"mode"`
	Conns     int     `json:"conns"`
	Window    int     `json:"window"`
	Size      int     `json:"size"`
	DurationS float64 `json:"duration_s"`
	// Messages are the verified echoes received within the window;
	// MessagesTotal adds those drained after it (use it to divide a
	// process's CPU time measured around the whole run).
	Messages      int64   `json:"messages"`
	MessagesTotal int64   `json:"messages_total"`
	MsgsPerS      float64 `json:"msgs_per_s"`
	// MBPerS is payload megabytes (10^6) per second in one direction.
	MBPerS     float64 `json:"mb_per_s"`
	Errors     int64   `json:"errors"`
	Mismatches int64   `json:"mismatches"`
	FirstError string  `json:"first_error,omitempty"`
}

func (c *ThroughputConfig) check() error {
	switch {
	case c.Dialer == nil:
		return fmt.Errorf("%w: no dialer", ErrConfig)
	case c.Conns <= 0 || c.Window <= 0 || c.Size < 0 || c.Duration <= 0:
		return fmt.Errorf("%w: conns, window and duration must be > 0, size >= 0", ErrConfig)
	}
	return nil
}

// Throughput opens cfg.Conns sessions, keeps cfg.Window echoes in flight on
// each for cfg.Duration, and reports the verified echo rate. It fails only
// when the sessions cannot be opened; errors during the run are counted in
// the result.
func Throughput(ctx context.Context, cfg ThroughputConfig) (ThroughputResult, error) {
	res := ThroughputResult{Mode: "throughput", Conns: cfg.Conns, Window: cfg.Window, Size: cfg.Size}
	if err := cfg.check(); err != nil {
		return res, err
	}
	drainTimeout := drainOr(cfg.DrainTimeout)
	conns, err := dialAll(ctx, cfg.Dialer, cfg.Conns)
	if err != nil {
		return res, fmt.Errorf("load: throughput: %w", err)
	}
	defer closeOnDone(ctx, conns)()

	var (
		t        tally
		stop     = make(chan struct{})
		counters = make([]paddedCounter, len(conns))
		wg       sync.WaitGroup
	)
	start := time.Now()
	for i, c := range conns {
		s := &windowSession{
			c: c, window: cfg.Window, size: cfg.Size, seed: uint64(i) + 1,
			received: &counters[i].n, tally: &t, drainTimeout: drainTimeout,
		}
		wg.Go(func() { s.run(stop) })
	}
	waitFor(ctx, cfg.Duration)
	elapsed := time.Since(start)
	for i := range counters {
		res.Messages += counters[i].n.Load()
	}
	close(stop)
	wg.Wait()
	for i := range counters {
		res.MessagesTotal += counters[i].n.Load()
	}
	res.DurationS = elapsed.Seconds()
	res.MsgsPerS = float64(res.Messages) / elapsed.Seconds()
	res.MBPerS = res.MsgsPerS * float64(cfg.Size) / 1e6
	res.Errors, res.Mismatches, res.FirstError = t.errors.Load(), t.mismatches.Load(), t.firstError()
	return res, ctx.Err()
}

// paddedCounter keeps each session's counter on its own cache line: the
// readers of different sessions run on different cores.
type paddedCounter struct {
	n atomic.Int64
	_ [56]byte
}

// windowSession is one Throughput session: run (the writer, and the owner)
// plus readEchoes (the reader it starts and waits for).
type windowSession struct {
	c            *Conn
	window, size int
	seed         uint64
	received     *atomic.Int64
	tally        *tally
	drainTimeout time.Duration

	tokens   chan struct{} // one per echo that may be sent now
	notify   chan struct{}
	stopping atomic.Bool
}

func (s *windowSession) run(stop <-chan struct{}) {
	s.tokens = make(chan struct{}, s.window)
	for range s.window {
		s.tokens <- struct{}{}
	}
	s.notify = make(chan struct{}, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.readEchoes()
	}()

	pat := newPattern(s.size, s.seed)
	var sent int64
write:
	for {
		select {
		case <-stop:
			break write
		case <-readerDone:
			break write
		case <-s.tokens:
		}
		// Flush when no further echo may be sent right now: what is
		// buffered is then everything the window allows.
		if err := s.c.WriteMessage(ws.OpBinary, pat.stamp(uint64(sent)), len(s.tokens) == 0); err != nil {
			s.tally.add(err)
			break
		}
		sent++
	}
	if err := s.c.Flush(); err != nil && !s.c.Stopping() {
		s.tally.add(err)
	}
	s.stopping.Store(true)
	if lost := drain(s.received, sent, s.notify, readerDone, s.drainTimeout); lost > 0 {
		s.tally.add(fmt.Errorf("%w: %d of %d", ErrLost, lost, sent))
	}
	s.c.StopReader()
	<-readerDone
	if err := s.c.Close(DefaultCloseTimeout); err != nil {
		s.tally.add(err)
	}
}

func (s *windowSession) readEchoes() {
	pat := newPattern(s.size, s.seed)
	for seq := uint64(0); ; seq++ {
		op, p, err := s.c.ReadMessage()
		if err != nil {
			if !isWakeUp(s.c, err) {
				s.tally.add(err)
			}
			return
		}
		if op != ws.OpBinary || !bytes.Equal(p, pat.stamp(seq)) {
			s.tally.add(fmt.Errorf("%w: echo %d differs (%d bytes)", ErrMismatch, seq, len(p)))
			return
		}
		s.received.Add(1)
		s.tokens <- struct{}{}
		if s.stopping.Load() {
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}
}
