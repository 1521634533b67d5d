package watch

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// newPolled builds a watcher without its goroutine: tests drive poll
// themselves, so each step is deterministic.
func newPolled(paths ...string) *Watcher {
	w := &Watcher{entries: map[string]*entry{}}
	w.Set(paths)
	return w
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// polls polls n times and returns every report.
func polls(w *Watcher, n int) [][]string {
	var out [][]string
	for range n {
		if got := w.poll(time.Now()); got != nil {
			out = append(out, got)
		}
	}
	return out
}

func TestNoChangeNoReport(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.yaml")
	write(t, p, "one")
	w := newPolled(p)
	if got := polls(w, 5); got != nil {
		t.Fatalf("reports without a change: %v", got)
	}
}

// A file written in several steps is reported once, after it settled.
func TestWrittenInStepsReportsOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.wasm")
	write(t, p, "v1")
	w := newPolled(p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, part := range []string{"ab", "cde", "fghi"} {
		if _, err := f.WriteString(part); err != nil {
			t.Fatal(err)
		}
		if got := w.poll(time.Now()); got != nil {
			t.Fatalf("step %d: reported %v while the file was still being written", i, got)
		}
	}
	got := polls(w, 5)
	if len(got) != 1 || !slices.Equal(got[0], []string{p}) {
		t.Fatalf("reports = %v, want one report of %s", got, p)
	}
}

// Written aside and renamed over: one report, even with the same size and
// modification time (the inode differs).
func TestReplacedByRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.wasm")
	write(t, p, "aaaa")
	old, _ := os.Stat(p)
	w := newPolled(p)
	tmp := filepath.Join(dir, ".f.wasm.tmp")
	write(t, tmp, "bbbb")
	if err := os.Chtimes(tmp, old.ModTime(), old.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	got := polls(w, 5)
	if len(got) != 1 || !slices.Equal(got[0], []string{p}) {
		t.Fatalf("reports = %v, want one report of %s", got, p)
	}
}

// A touch, or a rewrite with the same bytes, changes the stat but not the
// content: no report.
func TestTouchWithoutChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.yaml")
	write(t, p, "same")
	w := newPolled(p)
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	write(t, p, "same")
	if got := polls(w, 5); got != nil {
		t.Fatalf("reports after a touch: %v", got)
	}
}

// Same size, same modification time, same inode: only the content hash can
// tell, and a file modified this recently is hashed on every poll.
func TestRewriteUnderSameStat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.yaml")
	write(t, p, "1111")
	st, _ := os.Stat(p)
	w := newPolled(p)
	if got := w.poll(time.Now()); got != nil {
		t.Fatalf("report before any change: %v", got)
	}
	write(t, p, "2222")
	if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	got := polls(w, 5)
	if len(got) != 1 || !slices.Equal(got[0], []string{p}) {
		t.Fatalf("reports = %v, want one report of %s", got, p)
	}
}

// Two files changed together (a configuration and the module it names) are
// one change.
func TestChangesTogetherAreOneReport(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.wasm")
	write(t, a, "a1")
	write(t, b, "b1")
	w := newPolled(a, b)
	write(t, a, "a22")
	if got := w.poll(time.Now()); got != nil {
		t.Fatalf("reported %v while a was moving", got)
	}
	write(t, b, "b22")
	got := polls(w, 5)
	if len(got) != 1 || !slices.Equal(got[0], []string{a, b}) {
		t.Fatalf("reports = %v, want one report of both", got)
	}
}

// A deleted file is reported (the reload then says why it failed); coming
// back is another change.
func TestDeletedAndRecreated(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.wasm")
	write(t, p, "v1")
	w := newPolled(p)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if got := polls(w, 5); len(got) != 1 {
		t.Fatalf("after delete: %v, want one report", got)
	}
	write(t, p, "v1")
	if got := polls(w, 5); len(got) != 1 {
		t.Fatalf("after recreate: %v, want one report", got)
	}
	if got := polls(w, 5); got != nil {
		t.Fatalf("later: %v", got)
	}
}

// A file that does not exist yet is watched for its creation.
func TestMissingFromTheStart(t *testing.T) {
	p := filepath.Join(t.TempDir(), "later.wasm")
	w := newPolled(p)
	if got := polls(w, 3); got != nil {
		t.Fatalf("reports for a missing file: %v", got)
	}
	write(t, p, "x")
	if got := polls(w, 5); len(got) != 1 {
		t.Fatalf("after creation: %v, want one report", got)
	}
}

// Set keeps the state of files it keeps (a change under way is not lost),
// baselines new ones and forgets dropped ones.
func TestSet(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	for _, p := range []string{a, b, c} {
		write(t, p, "0")
	}
	w := newPolled(a, b)
	write(t, a, "11")
	write(t, b, "11")
	w.Set([]string{a, c, c})
	if got := w.Paths(); !slices.Equal(got, []string{a, c}) {
		t.Fatalf("Paths = %v", got)
	}
	got := polls(w, 5)
	if len(got) != 1 || !slices.Equal(got[0], []string{a}) {
		t.Fatalf("reports = %v, want a only (b dropped, c baselined)", got)
	}
	write(t, c, "22")
	got = polls(w, 5)
	if len(got) != 1 || !slices.Equal(got[0], []string{c}) {
		t.Fatalf("reports = %v, want c", got)
	}
}

// A file that never stops moving does not hold back the others forever.
func TestMovingFileDoesNotStarveOthers(t *testing.T) {
	dir := t.TempDir()
	busy, cfg := filepath.Join(dir, "busy"), filepath.Join(dir, "cfg")
	write(t, busy, "")
	write(t, cfg, "1")
	w := newPolled(busy, cfg)
	write(t, cfg, "22")
	var got [][]string
	for i := range 3 * maxMovingPolls {
		write(t, busy, string(make([]byte, i+1))) // a new size every poll
		if r := w.poll(time.Now()); r != nil {
			got = append(got, r)
		}
	}
	if len(got) != 1 || !slices.Equal(got[0], []string{cfg}) {
		t.Fatalf("reports = %v, want cfg once", got)
	}
}

// The goroutine: a change arrives on Changes; Close ends the goroutine and
// closes the channel, even while a report waits for a receiver.
func TestWatcherLoop(t *testing.T) {
	before := runtime.NumGoroutine()
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "one")
	w := New([]string{p}, 5*time.Millisecond)
	if w.Interval() != 5*time.Millisecond {
		t.Fatalf("Interval = %v", w.Interval())
	}
	write(t, p, "two!")
	select {
	case ch := <-w.Changes():
		if !slices.Equal(ch.Paths, []string{p}) {
			t.Fatalf("change = %v", ch.Paths)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported")
	}
	write(t, p, "three") // left unreceived: Close must not wait for a receiver
	w.Close()
	w.Close()
	for range w.Changes() { // drains nothing or the pending report, then ends
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d, before: %d", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
}

func TestDefaultInterval(t *testing.T) {
	w := New(nil, 0)
	defer w.Close()
	if w.Interval() != DefaultInterval {
		t.Fatalf("Interval = %v", w.Interval())
	}
}
