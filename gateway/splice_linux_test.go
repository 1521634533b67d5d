//go:build linux

package gateway

import (
	"bytes"
	"io"
	"net"
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

// A spliced tunnel moves bytes socket to pipe to socket without
// allocating: the callbacks handed to the sockets' RawConns are made once
// per pipe. (They were closures capturing their results, seven
// allocations per chunk.) One goroutine, real loopback sockets.
func TestSpliceAllocs(t *testing.T) {
	pair := func() (a, b net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		a, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if b, err = ln.Accept(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	client, src := pair()  // client writes, weir's source leg reads
	dst, backend := pair() // weir's destination leg writes, backend reads
	pp, err := (&pipePool{max: 1}).get()
	if err != nil {
		t.Fatal(err)
	}
	defer pp.close()
	p := &pump{src: newLeg("client", src, 0, false, 0), dst: newLeg("backend", dst, 0, false, 0), pipe: pp}

	msg := bytes.Repeat([]byte("x"), 1<<10)
	got := make([]byte, len(msg))
	relay := func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		for moved := 0; moved < len(msg); {
			n, err := p.spliceIn()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.spliceOut(n); err != nil {
				t.Fatal(err)
			}
			moved += n
		}
		if _, err := io.ReadFull(backend, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("backend read %v, or other bytes than were sent", err)
		}
	}
	relay()
	if n := testing.AllocsPerRun(100, relay); n != 0 {
		t.Fatalf("%v allocations per relayed KiB, want 0", n)
	}
}
