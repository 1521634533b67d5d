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
	waitIdle := func(want int32) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); w.idle.Load() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("%d idle workers, want %d", w.idle.Load(), want)
			}
			time.Sleep(time.Millisecond) // polling for a condition, bounded by the deadline
		}
	}
	waitIdle(3)

	// A new task goes to a waiting worker rather than a new goroutine:
	// while it runs, one worker fewer waits.
	hold := make(chan struct{})
	w.Go(func() { <-hold })
	waitIdle(2)
	close(hold)
	waitIdle(3)

	close(closing)
	wg.Wait() // returns only once every worker has ended
	if got := w.idle.Load(); got != 0 {
		t.Fatalf("%d idle workers after closing, want 0", got)
	}
}
