//go:build linux

package gateway

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// A tunnel direction that cannot make a pipe (the process is at its
// open-file limit, as when thousands of tunnels move bytes at once) relays
// through a buffer instead: the session loses nothing and ends cleanly.
// Before, it ended at once, and a backend's Close in flight was lost.
func TestTunnelWithoutPipes(t *testing.T) {
	h := startGateway(t, routeTo(startHashBackend(t).addr(), "    relay: tunnel\n"), false)
	rc := dialRaw(t, h.addr)
	rc.upgrade("/ws")

	// Once both directions have parked (giving their pipes back), there is
	// no idle pipe to take and no descriptor for a new one: every
	// descriptor below the limit is in use.
	waitFor(t, "both directions to park", 5*time.Second, func() bool { return h.srv.idlePipes() == 2 })
	h.srv.pipes.mu.Lock()
	for _, pp := range h.srv.pipes.free {
		pp.close()
	}
	h.srv.pipes.free = nil
	h.srv.pipes.mu.Unlock()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	lowest := f.Fd()
	f.Close()
	limited := old
	limited.Cur = uint64(lowest)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limited); err != nil {
		t.Skipf("cannot lower the open-file limit: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	if _, _, err := os.Pipe(); err == nil {
		t.Fatal("a pipe could still be made under the lowered limit")
	}

	checkHashExchange(t, rc)
	if n := h.srv.Metrics().PipeFallbacks.Value(); n == 0 {
		t.Fatal("no burst was counted as relayed without a pipe")
	}
}
