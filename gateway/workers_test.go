package gateway

import (
	"sync"
	"testing"
	"time"
)

// Workers run every task, keep at most maxIdle goroutines waiting, reuse a
// waiting one for the next task, and all end when closing is closed.
func TestWorkers(t *testing.T) {
	var wg sync.WaitGroup
	closing := make(chan struct{})
	w := newWorkers(3, &wg, closing)

	// Ten tasks at once, each held until all ten run: ten goroutines.
	const n = 10
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	done := make(chan int, n)
	for i := 0; i < n; i++ {
		w.Go(func() {
			started.Done()
			release.Wait()
			done <- i
		})
	}
	started.Wait()
	release.Done()
	seen := map[int]bool{}
	for i := 0; i < n; i++ {
		seen[<-done] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct tasks ran, want %d", len(seen), n)
	}
	// Seven of them end; three stay for the next tasks (bounded wait).
	idleWithin := func(want int32, d time.Duration) bool {
		for deadline := time.Now().Add(d); w.idle.Load() != want; {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(time.Millisecond) // polling for a condition, bounded by the deadline
		}
		return true
	}
	if !idleWithin(3, 5*time.Second) {
		t.Fatalf("%d idle workers, want 3", w.idle.Load())
	}

	// A new task goes to a waiting worker rather than a new goroutine:
	// while it runs, one worker fewer waits. A worker counts itself idle
	// just before it starts waiting, so a task sent in that instant finds
	// no receiver and gets a goroutine of its own (which ends after it,
	// the pool being full); the pool must reuse a worker within a few
	// tries, not on the first.
	reused := 0
	for try := 0; try < 20 && reused == 0; try++ {
		hold := make(chan struct{})
		w.Go(func() { <-hold })
		if idleWithin(2, 200*time.Millisecond) {
			reused++
		}
		close(hold)
		if !idleWithin(3, 5*time.Second) {
			t.Fatalf("%d idle workers after the task, want 3", w.idle.Load())
		}
	}
	if reused == 0 {
		t.Fatal("no task went to a waiting worker in 20 tries")
	}

	close(closing)
	wg.Wait() // returns only once every worker has ended
	if got := w.idle.Load(); got != 0 {
		t.Fatalf("%d idle workers after closing, want 0", got)
	}
}
