package gateway

import (
	"sync"
	"sync/atomic"
)

// workers runs short tasks (a handshake, a pump's burst) on goroutines that
// outlive them. A new goroutine starts on a small stack and grows it, by
// copying, as the task goes deeper (a handshake reaches the resolver, the
// dialer, the timers); that measured as 8 % of weir's CPU per
// connect–upgrade–echo–close cycle. A worker that finished a task waits for
// the next one with the stack it grew, unless enough workers wait already,
// so the pool holds no more than maxIdle idle goroutines and no timer.
type workers struct {
	tasks   chan func() // unbuffered: a send succeeds only into a waiting worker
	idle    atomic.Int32
	maxIdle int32
	wg      *sync.WaitGroup
	closing <-chan struct{}
}

func newWorkers(maxIdle int, wg *sync.WaitGroup, closing <-chan struct{}) *workers {
	return &workers{tasks: make(chan func()), maxIdle: int32(maxIdle), wg: wg, closing: closing}
}

// Go runs f on an idle worker, or on a new one when none waits.
func (w *workers) Go(f func()) {
	select {
	case w.tasks <- f:
	default:
		w.wg.Add(1)
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	defer w.wg.Done()
	for {
		f()
		f = nil // let the task's closure go while waiting
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		select {
		case f = <-w.tasks:
			w.idle.Add(-1)
		case <-w.closing:
			w.idle.Add(-1)
			return
		}
	}
}
