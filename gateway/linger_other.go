//go:build !linux

package gateway

import (
	"errors"
	"net"
	"syscall"
	"time"
)

var errLinger = errors.New("gateway: linger expired")

func (l *leg) waitReadable(time.Duration) error { return errLinger }

func rawConnOf(net.Conn) syscall.RawConn { return nil }
