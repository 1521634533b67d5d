//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"net"
	"sync"

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
type poller struct {
	epfd int

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
	p := &poller{epfd: fd, items: make(map[uint64]*pollItem), done: make(chan struct{})}
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
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return // EBADF after close: shutting down
		}
		for i := 0; i < n; i++ {
			tok := token(&events[i])
			if tok == 0 { // the close signal
				return
			}
			p.mu.Lock()
			it := p.items[tok]
			p.mu.Unlock()
			if it != nil {
				it.wake()
			}
		}
	}
}

// close stops the poller's goroutine and releases the epoll descriptor.
func (p *poller) close() {
	// Wake the loop with an eventfd carrying token 0, then close.
	efd, err := unix.Eventfd(1, unix.EFD_CLOEXEC)
	if err == nil {
		ev := unix.EpollEvent{Events: unix.EPOLLIN}
		setToken(&ev, 0)
		if unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, efd, &ev) == nil {
			<-p.done
		}
		unix.Close(efd)
	}
	unix.Close(p.epfd)
}
