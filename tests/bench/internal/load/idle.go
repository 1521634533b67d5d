package load

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultIdleWorkers is how many sessions Idle opens at a time.
const DefaultIdleWorkers = 32

// idleBufferSize keeps an idle session's own buffers small: this process
// holds as many sessions as the target does.
const idleBufferSize = 512

// IdleConfig configures Idle.
type IdleConfig struct {
	Dialer *Dialer
	// Sessions to open; Workers open them in parallel (the ramp), default
	// DefaultIdleWorkers; Size is the proving echo's payload size.
	Sessions, Workers, Size int
	// Hold is the longest the sessions stay idle once all are open;
	// Release ends the hold earlier when it is closed or receives.
	Hold    time.Duration
	Release <-chan struct{}
	// OnReady, when set, is called once every session is open and proven,
	// before the hold.
	OnReady func(IdleReady)
}

// IdleReady reports the sessions open at the start of the hold.
type IdleReady struct {
	Mode     string  `json:"mode"`
	Event    string  `json:"event"`
	Sessions int     `json:"sessions"`
	Open     int64   `json:"open"`
	Sources  int     `json:"sources"`
	RampS    float64 `json:"ramp_s"`
	Errors   int64   `json:"errors"`
}

// IdleResult is what Idle saw at the end.
type IdleResult struct {
	Mode     string `json:"mode"`
	Event    string `json:"event"`
	Sessions int    `json:"sessions"`
	Open     int64  `json:"open"`
	// Survived counts sessions that answered one more verified echo after
	// the hold.
	Survived   int64   `json:"survived"`
	HeldS      float64 `json:"held_s"`
	Errors     int64   `json:"errors"`
	Mismatches int64   `json:"mismatches"`
	FirstError string  `json:"first_error,omitempty"`
}

// Idle opens cfg.Sessions sessions, proves each with one echo (so that a
// proxy has opened its backend leg too), holds them idle (pings from the
// target are answered), then proves each again and closes it.
func Idle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	res := IdleResult{Mode: "idle", Event: "done", Sessions: cfg.Sessions}
	if cfg.Dialer == nil || cfg.Sessions <= 0 || cfg.Size < 0 || cfg.Hold < 0 {
		return res, fmt.Errorf("%w: idle needs a dialer and sessions > 0", ErrConfig)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = DefaultIdleWorkers
	}
	d := *cfg.Dialer
	d.ReadBufferSize, d.WriteBufferSize = idleBufferSize, idleBufferSize

	var (
		t        tally
		open     atomic.Int64
		survived atomic.Int64
		next     atomic.Int64
		mu       sync.Mutex
		conns    []*Conn
		ramp     sync.WaitGroup
		sessions sync.WaitGroup
	)
	// Close whatever is open if the caller's deadline passes.
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.nc.Close()
		}
	})
	defer stopWatch()

	began := time.Now()
	for range min(workers, cfg.Sessions) {
		ramp.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Sessions || ctx.Err() != nil {
					return
				}
				pat := newPattern(cfg.Size, uint64(i)+1)
				c, err := openIdle(ctx, &d, i, pat.stamp(0))
				if err != nil {
					t.add(err)
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				open.Add(1)
				sessions.Go(func() {
					if holdIdle(c, pat.stamp(1), &t) {
						survived.Add(1)
					}
				})
			}
		})
	}
	ramp.Wait()
	res.Open = open.Load()
	if cfg.OnReady != nil {
		cfg.OnReady(IdleReady{
			Mode: "idle", Event: "ready", Sessions: cfg.Sessions, Open: res.Open,
			Sources: len(d.Sources), RampS: time.Since(began).Seconds(), Errors: t.errors.Load(),
		})
	}

	held := time.Now()
	timer := time.NewTimer(cfg.Hold)
	select {
	case <-timer.C:
	case <-cfg.Release:
		timer.Stop()
	case <-ctx.Done():
		timer.Stop()
	}
	res.HeldS = time.Since(held).Seconds()
	mu.Lock()
	for _, c := range conns {
		c.StopReader()
	}
	mu.Unlock()
	sessions.Wait()
	res.Survived = survived.Load()
	res.Errors, res.Mismatches, res.FirstError = t.errors.Load(), t.mismatches.Load(), t.firstError()
	return res, ctx.Err()
}

func openIdle(ctx context.Context, d *Dialer, i int, payload []byte) (*Conn, error) {
	c, err := d.Dial(ctx, i)
	if err != nil {
		return nil, err
	}
	if err := c.nc.SetDeadline(time.Now().Add(DefaultCloseTimeout)); err != nil {
		_ = c.nc.Close()
		return nil, fmt.Errorf("load: idle: %w", err)
	}
	if err := c.Echo(payload); err != nil {
		_ = c.nc.Close()
		return nil, err
	}
	if err := c.nc.SetDeadline(time.Time{}); err != nil {
		_ = c.nc.Close()
		return nil, fmt.Errorf("load: idle: %w", err)
	}
	return c, nil
}

// holdIdle waits on an idle session until StopReader, answering pings; a
// data message or a close while idle is an error. It then proves the
// session with one more echo and closes it, and reports whether the session
// survived.
func holdIdle(c *Conn, payload []byte, t *tally) bool {
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			t.add(fmt.Errorf("%w: data on an idle session", ErrMismatch))
			_ = c.nc.Close()
			return false
		}
		if isWakeUp(c, err) {
			break
		}
		t.add(fmt.Errorf("load: idle session lost: %w", err))
		_ = c.nc.Close()
		return false
	}
	if err := c.nc.SetDeadline(time.Now().Add(DefaultCloseTimeout)); err != nil {
		_ = c.nc.Close()
		t.add(fmt.Errorf("load: idle: %w", err))
		return false
	}
	if err := c.Echo(payload); err != nil {
		_ = c.nc.Close()
		t.add(err)
		return false
	}
	if err := c.Close(DefaultCloseTimeout); err != nil {
		t.add(err)
	}
	return true
}
