package watch

import (
	"crypto/sha256"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// DefaultInterval is the poll interval when none is given: a reload within a
// second or two of a save, for a few stat calls a second.
const DefaultInterval = time.Second

// racyWindow is how long after its modification time a file is re-hashed on
// every poll: longer than the timestamp granularity of common file systems
// (Linux's coarse clock, 1–10 ms; NFS and HFS+, 1 s).
const racyWindow = 2 * time.Second

// maxMovingPolls bounds how long one file that never stops changing (a
// misconfigured path pointing at a log, say) can hold back the report of the
// others: after this many polls in a row with some file moving, settled
// files are reported anyway.
const maxMovingPolls = 10

// Change is one settled change: the watched files whose content differs from
// what was last reported (or from what they held when they were first
// watched). A file that disappeared is reported too; reading it tells why.
type Change struct {
	Paths []string
}

// Watcher polls a set of files. Its methods are safe for concurrent use.
type Watcher struct {
	interval time.Duration
	changes  chan Change
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	entries map[string]*entry
	order   []string // watched paths, in the order Set gave them
	moving  int      // polls in a row during which some file moved
}

// entry is what the watcher last saw of one file.
type entry struct {
	st        fileStat
	sum       digest // content at the last look; valid when hashed
	hashed    bool   // sum was taken under st
	committed digest // content last reported (or first seen)
}

// digest identifies a file's content, or says why there is none.
type digest struct {
	state uint8 // present, absent, unreadable
	sum   [sha256.Size]byte
}

const (
	present uint8 = iota
	absent
	unreadable
)

// New starts watching paths, polling every interval (DefaultInterval when
// not positive). What the files hold now is the baseline: only later
// changes are reported.
func New(paths []string, interval time.Duration) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
	}
	w := &Watcher{
		interval: interval,
		changes:  make(chan Change),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		entries:  map[string]*entry{},
	}
	w.Set(paths)
	go w.run()
	return w
}

// Changes delivers settled changes. It is unbuffered: while the receiver
// acts on one change (a reload), the watcher waits, and what changes in the
// meantime is reported next. It is closed by Close.
func (w *Watcher) Changes() <-chan Change { return w.changes }

// Interval returns the poll interval.
func (w *Watcher) Interval() time.Duration { return w.interval }

// Set replaces the watched set. Files watched before keep their state, so a
// change already under way is not lost; new files get their current content
// as the baseline; files no longer named are forgotten.
func (w *Watcher) Set(paths []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	next := make(map[string]*entry, len(paths))
	order := make([]string, 0, len(paths))
	for _, p := range paths {
		if _, dup := next[p]; dup {
			continue
		}
		e := w.entries[p]
		if e == nil {
			st := statOf(p)
			sum := digestOf(p)
			e = &entry{st: st, sum: sum, hashed: true, committed: sum}
		}
		next[p] = e
		order = append(order, p)
	}
	w.entries, w.order = next, order
}

// Paths returns the watched set.
func (w *Watcher) Paths() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.order)
}

// Close stops the watcher, waits for its goroutine and closes Changes. It
// may be called more than once, from any goroutine; a report nobody received
// yet is dropped.
func (w *Watcher) Close() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func (w *Watcher) run() {
	defer close(w.done)
	defer close(w.changes)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			paths := w.poll(now)
			if len(paths) == 0 {
				continue
			}
			select {
			case w.changes <- Change{Paths: paths}:
			case <-w.stop:
				return
			}
		}
	}
}

// poll looks at every watched file once and returns the settled changes, in
// the order of the watched set.
func (w *Watcher) poll(now time.Time) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	moved := false
	var ready []*entry
	var readyPaths []string
	for _, p := range w.order {
		e := w.entries[p]
		st := statOf(p)
		if st != e.st {
			e.st, e.hashed = st, false
			moved = true
			continue
		}
		// The stat held still for one interval.
		if !e.hashed || st.racy(now) {
			sum := digestOf(p)
			if st2 := statOf(p); st2 != st { // written while we read it
				e.st, e.hashed = st2, false
				moved = true
				continue
			}
			if e.hashed && sum != e.sum { // rewritten under an unchanged stat
				e.sum = sum
				moved = true
				continue
			}
			e.sum, e.hashed = sum, true
		}
		if e.sum != e.committed {
			ready = append(ready, e)
			readyPaths = append(readyPaths, p)
		}
	}
	if moved {
		w.moving++
		if w.moving < maxMovingPolls {
			return nil
		}
	}
	w.moving = 0
	for _, e := range ready {
		e.committed = e.sum
	}
	return readyPaths
}

// fileStat is what a stat call tells about a file's identity and content.
type fileStat struct {
	exists bool
	size   int64
	mtime  int64 // Unix nanoseconds
	mode   os.FileMode
	ino    uint64
	dev    uint64
}

func statOf(p string) fileStat {
	fi, err := os.Stat(p)
	if err != nil {
		return fileStat{}
	}
	st := fileStat{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
	st.ino, st.dev = fileID(fi)
	return st
}

// racy reports whether the file changed so recently that a rewrite of the
// same size within the same timestamp tick would not show in its stat.
func (st fileStat) racy(now time.Time) bool {
	if !st.exists {
		return false
	}
	d := now.Sub(time.Unix(0, st.mtime))
	return d < racyWindow && d > -racyWindow
}

func digestOf(p string) digest {
	f, err := os.Open(p)
	if err != nil {
		if os.IsNotExist(err) {
			return digest{state: absent}
		}
		return digest{state: unreadable}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return digest{state: unreadable}
	}
	var d digest
	h.Sum(d.sum[:0])
	return d
}
