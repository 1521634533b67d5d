//go:build !linux

package gateway

import (
	"errors"
	"net"
)

// poller is Linux-only; elsewhere every session keeps a goroutine per
// direction.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("gateway: no poller on this platform") }
func fdOf(net.Conn) int           { return -1 }
func (p *poller) add(int, func(), func(uint64)) (uint64, error) {
	return 0, errors.New("gateway: no poller")
}
func (p *poller) arm(uint64) error { return errors.New("gateway: no poller") }
func (p *poller) remove(uint64)    {}
func (p *poller) close()           {}
