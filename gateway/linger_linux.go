//go:build linux

package gateway

import (
	"errors"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errLinger: the wait ended without the socket becoming readable.
var errLinger = errors.New("gateway: linger expired")

// waitReadable waits up to d for the leg's socket to become readable,
// parked on Go's own netpoller, without reading a byte and without a
// buffer: it peeks one byte with MSG_PEEK into the leg's scratch. A pump
// lingers here before it parks on epoll, so a busy session keeps its
// goroutine (no epoll round trip, no goroutine start per burst) while an
// idle one still ends up holding nothing.
func (l *leg) waitReadable(d time.Duration) error {
	if l.rc == nil {
		return errLinger
	}
	_ = l.conn.SetReadDeadline(time.Now().Add(d))
	ready := false
	err := l.rc.Read(func(fd uintptr) bool {
		_, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&l.peek[0])), 1,
			unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		if e == syscall.EAGAIN {
			return false
		}
		ready = true // data, EOF or an error: the reader will see which
		return true
	})
	_ = l.conn.SetReadDeadline(time.Time{})
	if ready {
		return nil
	}
	if err == nil {
		err = errLinger
	}
	return err
}

func rawConnOf(c net.Conn) syscall.RawConn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
