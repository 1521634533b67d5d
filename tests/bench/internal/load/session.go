package load

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// isWakeUp reports whether err is the read timeout that StopReader causes.
func isWakeUp(c *Conn, err error) bool {
	return c.Stopping() && errors.Is(err, os.ErrDeadlineExceeded)
}

// drain waits until received reaches sent, woken by notify, at most for
// timeout. It reports how many echoes are still missing. The reader sends
// on notify (without blocking) after each echo once stopping is set; the
// caller sets stopping before calling drain, so no wake-up is missed.
func drain(received *atomic.Int64, sent int64, notify <-chan struct{}, readerDone <-chan struct{}, timeout time.Duration) int64 {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		got := received.Load()
		if got >= sent {
			return 0
		}
		select {
		case <-notify:
		case <-readerDone:
			// The reader failed and has counted its own error.
			return 0
		case <-timer.C:
			return sent - received.Load()
		}
	}
}

// dialAll opens n sessions in parallel (at most 64 dials at a time). On any
// failure it closes what it opened and returns the first error.
func dialAll(ctx context.Context, d *Dialer, n int) ([]*Conn, error) {
	conns := make([]*Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = d.Dial(ctx, i)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				_ = c.nc.Close()
			}
		}
		return nil, err
	}
	return conns, nil
}

// closeOnDone closes every connection when ctx ends, so that no goroutine
// of a mode outlives the caller's hard deadline. The returned func stops
// the watch.
func closeOnDone(ctx context.Context, conns []*Conn) func() bool {
	return context.AfterFunc(ctx, func() {
		for _, c := range conns {
			_ = c.nc.Close()
		}
	})
}

// drainOr returns d, or DefaultDrainTimeout when d is not set.
func drainOr(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultDrainTimeout
	}
	return d
}

// waitFor returns after d, or sooner when ctx ends.
func waitFor(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
