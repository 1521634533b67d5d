package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// 200 sessions over 4 shards, driven from 50 goroutines at once (run with
// -race): every session gets its own messages back, rewritten.
func TestConcurrentSessions(t *testing.T) {
	const (
		workers           = 50
		sessionsPerWorker = 4
		messages          = 20
	)
	h := newTestHost(t, HostOptions{Shards: 4})
	p := loadC(t, h, srcUppercase, "")

	var opened, release sync.WaitGroup
	opened.Add(workers)
	release.Add(1)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			var ss []*testSession
			var err error
			for i := 0; i < sessionsPerWorker && err == nil; i++ {
				var s *testSession
				if s, err = tryNewSession(t, p, nil); err == nil {
					ss = append(ss, s)
				}
			}
			opened.Done()
			if err != nil {
				errs <- err
				return
			}
			release.Wait()
			defer func() {
				for _, s := range ss {
					s.close(1000)
				}
			}()
			for m := 0; m < messages; m++ {
				for i, s := range ss {
					in := fmt.Sprintf("worker %d session %d message %d", w, i, m)
					out, _, err := s.send(in)
					if err != nil {
						errs <- err
						return
					}
					if out != strings.ToUpper(in) {
						errs <- fmt.Errorf("got %q for %q", out, in)
						return
					}
				}
			}
			errs <- nil
		}(w)
	}
	opened.Wait()
	st := p.Stats()
	if st.Sessions != workers*sessionsPerWorker {
		t.Fatalf("%d sessions pinned", st.Sessions)
	}
	lo, hi := st.Shards[0].Sessions, st.Shards[0].Sessions
	for _, s := range st.Shards {
		lo, hi = min(lo, s.Sessions), max(hi, s.Sessions)
	}
	if hi-lo > workers*sessionsPerWorker/len(st.Shards)/2 {
		t.Errorf("unbalanced shards: %+v", st.Shards)
	}
	release.Done()
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	waitFor(t, "sessions to end", 10*time.Second, func() bool { return p.Stats().Sessions == 0 })
}

// Release waits for the last session, then closes everything: the ticker
// goroutine stops and the goroutine count returns to where it was.
func TestReleaseClosesEverything(t *testing.T) {
	buildC(t, srcHostcalls)
	h := newTestHost(t, HostOptions{Shards: 4})
	base := goroutines()
	p, err := h.Load(context.Background(), "hostcalls.c", buildC(t, srcHostcalls), []byte("tick"))
	if err != nil {
		t.Fatal(err)
	}
	var sessions []*testSession
	for i := 0; i < 20; i++ {
		sessions = append(sessions, newSession(t, p, nil))
	}
	if goroutines() <= base {
		t.Fatal("the ticker goroutine is not running")
	}
	if err := p.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Live sessions keep their version.
	for _, s := range sessions {
		if got := s.must("sessions"); got == "" {
			t.Fatal("empty answer")
		}
	}
	for _, s := range sessions {
		s.close(1000)
	}
	waitGoroutines(t, base)
	for i, s := range p.Stats().Shards {
		if s.Up {
			t.Fatalf("shard %d still up after the last session", i)
		}
	}
	if _, err := p.NewFilter(context.Background(), sessions[0].s); !errors.Is(err, ErrReleased) {
		t.Fatalf("NewFilter after release: %v", err)
	}
	if err := p.Release(context.Background()); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}

// Many versions loaded and released in turn leave no goroutines behind.
func TestReloadLoop(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2})
	wasm := buildC(t, srcHostcalls)
	base := goroutines()
	for i := 0; i < 30; i++ {
		p, err := h.Load(context.Background(), "hostcalls.c", wasm, []byte("tick"))
		if err != nil {
			t.Fatal(err)
		}
		s := newSession(t, p, nil)
		s.must("kvset v x")
		if err := p.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.close(1000)
	}
	waitGoroutines(t, base)
}
