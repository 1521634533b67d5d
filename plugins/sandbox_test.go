package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirproxy/weir/filters"
)

const childEnv = "WEIR_PLUGINS_TEST_CHILD"

// W-01: a guest in an endless loop is aborted at its deadline, and the
// process does not freeze at the next garbage collection. Without a CPU
// bound the first runtime.GC() below would wait forever for the spinning
// goroutine, and so would every timer of this process: the scenario runs in
// a child process that the parent kills after a bounded time.
func TestLoopIsAbortedAndGCDoesNotFreeze(t *testing.T) {
	if os.Getenv(childEnv) == "spin" {
		spinChild(t)
		return
	}
	buildC(t, srcMisbehave) // skips when clang is absent
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestLoopIsAbortedAndGCDoesNotFreeze$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=spin")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the child process froze and was killed:\n%s", out)
	}
	if err != nil || !strings.Contains(string(out), "spin-child-ok") {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "aborted after") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

func spinChild(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2, CallTimeout: 100 * time.Millisecond})
	p := loadC(t, h, srcMisbehave, "")
	spinner, other := newSession(t, p, nil), newSession(t, p, nil)
	if spinner.shard() == other.shard() {
		t.Fatal("sessions share a shard")
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, _, err := spinner.send("loop")
		done <- err
	}()
	var callErr error
	otherChecked := false
	for gcs := 0; callErr == nil; gcs++ {
		runtime.GC()
		if !otherChecked {
			// A session on another shard is served while the guest spins.
			if got := other.must("hi"); got != "hi" {
				t.Fatalf("other session: %q", got)
			}
			otherChecked = true
		}
		select {
		case callErr = <-done:
			t.Logf("aborted after %v and %d garbage collections", time.Since(start).Round(time.Millisecond), gcs+1)
		default:
		}
		if gcs > 1_000_000 {
			t.Fatal("the call never returned")
		}
	}
	var ce *CallError
	if !errors.Is(callErr, ErrCallTimeout) || !errors.As(callErr, &ce) || ce.Shard != spinner.shard() {
		t.Fatalf("got %v, want a timeout on shard %d", callErr, spinner.shard())
	}
	// The shard was replaced; the other session never noticed.
	if st := p.Stats().Shards[spinner.shard()]; !st.Up || st.Restarts != 1 {
		t.Fatalf("shard after the timeout: %+v", st)
	}
	if got := other.must("fine"); got != "fine" {
		t.Fatalf("other session: %q", got)
	}
	if _, _, err := spinner.send("again"); !errors.Is(err, ErrInstanceLost) {
		t.Fatalf("spinner after the timeout: %v", err)
	}
	spinner.close(1011)
	other.close(1000)
	fmt.Println("spin-child-ok")
}

func TestInitLoopFailsTheLoad(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2, InitTimeout: 100 * time.Millisecond})
	_, err := h.Load(context.Background(), "m", buildC(t, srcMisbehave), []byte("loop"))
	if !errors.Is(err, ErrCallTimeout) {
		t.Fatalf("got %v", err)
	}
}

// W-02: memory.grow stops at the cap and the guest sees the failure, also
// for a module that declares a 4 GiB maximum.
func TestMemoryCap(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"default max", nil},
		{"declared max 4 GiB", []string{"-Wl,--max-memory=4294967296"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHost(t, HostOptions{Shards: 1, MemoryLimitBytes: 4 << 20})
			p, err := h.Load(context.Background(), "m", buildCWith(t, srcMisbehave, tt.flags...), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release(context.Background())
			ts := newSession(t, p, nil)
			pages, err := strconv.Atoi(ts.must("g"))
			if err != nil || pages > 64 || pages < 64-16 {
				t.Fatalf("grew to %d pages (%v), cap 64", pages, err)
			}
			if mem := p.Stats().Shards[0].MemoryBytes; mem > 4<<20 {
				t.Fatalf("memory %d over the cap", mem)
			}
			// The instance still works.
			if got := ts.must("x"); got != "x" {
				t.Fatalf("after growing: %q", got)
			}
			ts.close(1000)
		})
	}
}

// W-03: traps fail the call without a Go panic; the other session of the
// shard is closed with 1011; sessions of other shards are unaffected; the
// shard gets a fresh instance.
func TestTraps(t *testing.T) {
	for _, tt := range []struct{ name, msg string }{
		{"unreachable", "u"},
		{"divide by zero", "d"},
		{"out of bounds", "o"},
		{"stack overflow", "s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A long deadline, so that deep recursion reaches the runtime's
			// stack limit rather than the deadline.
			h := newTestHost(t, HostOptions{Shards: 4, CallTimeout: 20 * time.Second})
			p := loadC(t, h, srcMisbehave, "")
			var all []*testSession
			for i := 0; i < 8; i++ {
				ts := newSession(t, p, nil)
				ts.open()
				all = append(all, ts)
			}
			victim := all[0]
			k := victim.shard()
			_, _, err := victim.send(tt.msg)
			var ce *CallError
			if !errors.Is(err, ErrTrap) || !errors.As(err, &ce) || ce.Shard != k {
				t.Fatalf("got %v, want a trap on shard %d", err, k)
			}
			// The failing session gets the error, not a close: the chain
			// decides (1011, or skip the filter).
			if closes := victim.rec.closes(); len(closes) != 0 {
				t.Fatalf("failing session closed through its sender: %v", closes)
			}
			for _, ts := range all[1:] {
				closes := ts.rec.closes()
				if ts.shard() == k {
					if len(closes) != 1 || closes[0] != 1011 {
						t.Fatalf("session on the failed shard: closes %v", closes)
					}
					if _, _, err := ts.send("x"); !errors.Is(err, ErrInstanceLost) {
						t.Fatalf("session on the failed shard: %v", err)
					}
					continue
				}
				if len(closes) != 0 {
					t.Fatalf("session on shard %d closed: %v", ts.shard(), closes)
				}
				if got := ts.must("fine"); got != "fine" {
					t.Fatalf("session on shard %d: %q", ts.shard(), got)
				}
			}
			if st := p.Stats().Shards[k]; !st.Up || st.Restarts != 1 || st.Failures != 1 {
				t.Fatalf("failed shard: %+v", st)
			}
			for _, ts := range all {
				ts.close(1011)
			}
			// The fresh instance serves new sessions.
			fresh := newSession(t, p, nil)
			if fresh.shard() != k && p.Stats().Shards[k].Sessions != 0 {
				t.Fatalf("stats %+v", p.Stats())
			}
			if got := fresh.must("new session"); got != "new session" {
				t.Fatalf("fresh session: %q", got)
			}
			fresh.close(1000)
		})
	}
}

// Crash loops back off: a second failure soon after the first leaves the
// shard down for a while; new sessions go elsewhere until it is due.
func TestCrashLoopBackOff(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2})
	var offset atomic.Int64
	base := time.Now()
	h.now = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	p := loadC(t, h, srcMisbehave, "")

	crash := func() int {
		ts := newSession(t, p, nil)
		k := ts.shard()
		if _, _, err := ts.send("u"); !errors.Is(err, ErrTrap) {
			t.Fatalf("no trap: %v", err)
		}
		ts.close(1011)
		return k
	}
	k := crash()
	if st := p.Stats().Shards[k]; !st.Up {
		t.Fatalf("first failure: shard should be replaced at once: %+v", st)
	}
	// Load the other shard so that the next session lands on k again.
	a, b := newSession(t, p, nil), newSession(t, p, nil)
	other := a
	if a.shard() == k {
		other = b
		a.close(1000)
	} else {
		b.close(1000)
	}
	if k2 := crash(); k2 != k {
		t.Fatalf("second crash on shard %d", k2)
	}
	if st := p.Stats().Shards[k]; st.Up || st.Failures != 2 {
		t.Fatalf("second failure: shard should back off: %+v", st)
	}
	// While it backs off, new sessions go to the healthy shard even though
	// it is busier.
	ts := newSession(t, p, nil)
	if ts.shard() == k {
		t.Fatal("a session was pinned to a shard that is backing off")
	}
	ts.close(1000)
	offset.Store(int64(backoff(2) + time.Millisecond))
	ts = newSession(t, p, nil)
	if ts.shard() != k || !p.Stats().Shards[k].Up {
		t.Fatalf("shard %d not restarted after its back-off: %+v", k, p.Stats())
	}
	ts.close(1000)
	other.close(1000)
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{
		0: 0, 1: 0, 2: 100 * time.Millisecond, 3: 200 * time.Millisecond,
		4: 400 * time.Millisecond, 10: 25600 * time.Millisecond, 11: 30 * time.Second, 100: 30 * time.Second,
	} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// When every shard is down, NewFilter says so.
func TestAllShardsDown(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	var offset atomic.Int64
	base := time.Now()
	h.now = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	p := loadC(t, h, srcMisbehave, "")
	for i := 0; i < 2; i++ {
		ts := newSession(t, p, nil)
		_, _, _ = ts.send("d")
		ts.close(1011)
	}
	s := filters.NewSession(filters.Session{ID: 9}, nil)
	if _, err := p.NewFilter(context.Background(), s); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("NewFilter on a shard that backs off: %v", err)
	}
}
