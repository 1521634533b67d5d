//go:build !linux

package gateway

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// Without splice(2) a tunnel relays through its reader (serveRaw).

type pipe struct{}

type pipePool struct {
	mu   sync.Mutex
	free []*pipe
	max  int
}

func (pp *pipePool) close() {}

func (p *pipe) close() {}

func rawConnOf(net.Conn) syscall.RawConn { return nil }

func canSplice(a, b *leg) bool { return false }

func (p *pump) serveSplice(bool) error { return errors.New("gateway: splice is Linux only") }
