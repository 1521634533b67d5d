//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller parks idle relay directions on one epoll instance, so that an idle
// session costs no goroutine and no buffer. A registration is one-shot and
// level-triggered: after it fires, nothing more is reported until the
// direction re-arms, and re-arming while bytes are already waiting reports
// them at once, so no wake-up is ever lost between "buffer empty" and
// "re-armed".
//
// Events carry a token, not a file descriptor, so that an event for a
// descriptor that was closed (and perhaps reused) finds nothing.
//
// The epoll descriptor is itself registered with Go's netpoller and only
// ever waited on with a zero timeout: a goroutine blocked in epoll_wait
// would hold its P inside a syscall until sysmon takes it back (20 µs to
// 10 ms later), which stalls every other goroutine when GOMAXPROCS is small
// and measured as most of the latency of a short session.
type poller struct {
	epfd int
	file *os.File        // epfd, registered with Go's netpoller
	rc   syscall.RawConn // waits for epfd to become readable

	mu    sync.Mutex
	next  uint64
	items map[uint64]*pollItem
	done  chan struct{}
}

type pollItem struct {
	fd   int
	wake func()
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("gateway: epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller (an
	// epoll descriptor is pollable: readable while events are ready).
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("gateway: epoll nonblock: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("gateway: epoll raw conn: %w", err)
	}
	p := &poller{epfd: fd, file: f, rc: rc, items: make(map[uint64]*pollItem), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// fdOf returns the descriptor of a plain TCP connection, or -1 for anything
// the poller cannot watch directly (TLS: plaintext may sit in its buffer).
func fdOf(c net.Conn) int {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return -1
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1
	}
	return fd
}

// add registers fd, armed, and returns its token. wake runs (on the poller's
// goroutine: it must only start work elsewhere) each time the armed fd is
// readable or hung up.
//
// setTok receives the token before the descriptor can fire, so that wake
// always sees it.
func (p *poller) add(fd int, wake func(), setTok func(uint64)) (uint64, error) {
	p.mu.Lock()
	p.next++
	tok := p.next
	p.items[tok] = &pollItem{fd: fd, wake: wake}
	// Under the mutex: the event loop takes it before calling wake, which
	// orders this write before wake's read of the token.
	setTok(tok)
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setToken(&ev, tok)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.items, tok)
		p.mu.Unlock()
		return 0, fmt.Errorf("gateway: epoll add: %w", err)
	}
	return tok, nil
}

// arm re-enables the one-shot registration of tok.
func (p *poller) arm(tok uint64) error {
	p.mu.Lock()
	it := p.items[tok]
	p.mu.Unlock()
	if it == nil {
		return errors.New("gateway: epoll arm: unknown token")
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setToken(&ev, tok)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, it.fd, &ev); err != nil {
		return fmt.Errorf("gateway: epoll arm: %w", err)
	}
	return nil
}

// remove forgets tok. It must run before the descriptor is closed.
func (p *poller) remove(tok uint64) {
	p.mu.Lock()
	it := p.items[tok]
	delete(p.items, tok)
	p.mu.Unlock()
	if it != nil {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, it.fd, nil)
	}
}

// setToken stores the 64-bit token in the event's data field, which
// x/sys/unix splits into Fd and Pad.
func setToken(ev *unix.EpollEvent, tok uint64) {
	ev.Fd = int32(uint32(tok))
	ev.Pad = int32(uint32(tok >> 32))
}

func token(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func (p *poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	// RawConn.Read re-runs wait after each netpoller wake-up until it
	// reports done; readiness that arrives between a dry call and the wait
	// is kept by the netpoller, so none is lost. One closure for the whole
	// loop: made per round, it and the results it captured were three
	// allocations per wake-up.
	var n int
	var werr error
	wait := func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), events, 0)
		return n > 0 || (werr != nil && !errors.Is(werr, unix.EINTR))
	}
	for {
		n, werr = 0, nil
		err := p.rc.Read(wait)
		if err != nil || werr != nil {
			return // the descriptor was closed: shutting down
		}
		for i := 0; i < n; i++ {
			p.mu.Lock()
			it := p.items[token(&events[i])]
			p.mu.Unlock()
			if it != nil {
				it.wake()
			}
		}
	}
}

// close stops the poller's goroutine and releases the epoll descriptor:
// closing the file wakes the loop's wait with an error.
func (p *poller) close() {
	_ = p.file.Close()
	<-p.done
}
