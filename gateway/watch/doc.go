// Package watch tells a long-running process that files it was started from
// (its configuration, the WASM modules it loaded) changed on disk, once per
// settled change.
//
// It polls: every interval it stats each watched file (size, modification
// time, inode, device) and hashes the content of those whose stat moved.
// Polling is portable, survives the ways files are really replaced (written
// in place in several steps, written aside and renamed over, a symlink
// swapped by a config-map updater) and costs a few stat calls per interval.
// A change is reported only when it has settled (no watched file moved
// during the last interval) and the content differs from what was last
// reported, so a file written in steps gives one change and a touch that
// does not change the bytes gives none.
//
// File systems with coarse timestamps can hide a rewrite that keeps the size
// and lands in the same timestamp tick as the previous look; files whose
// modification time is that recent are therefore hashed on every poll until
// it is a few seconds old (git's "racily clean" entries are the same idea).
//
// A Watcher owns one goroutine, stopped by Close. This package keeps no
// global state and imports nothing from the rest of weir.
package watch
