package balance

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoBackend means no member of the pool can take a new session now.
var ErrNoBackend = errors.New("balance: no healthy backend")

// Backend is one member of a pool.
type Backend struct {
	// Address is the dial address (host:port).
	Address string
	// Weight is the member's share of new sessions; 0 takes none.
	Weight int
	// TLS dials the backend over TLS.
	TLS bool

	health *health
	active atomic.Int64
}

// Active returns the number of live sessions on the backend.
func (b *Backend) Active() int64 { return b.active.Load() }

// health is the passive health of one address; it is shared by every pool
// that names the address, across reloads.
type health struct {
	mu        sync.Mutex
	failures  int
	ejectedTo time.Time
}

// State holds what is known about backends by address. It outlives
// configuration generations: a reload does not forget that a backend is down.
type State struct {
	mu sync.Mutex
	m  map[string]*health
	// EjectAfter consecutive failures eject a member for EjectFor.
	EjectAfter int
	EjectFor   time.Duration
	now        func() time.Time
}

// NewState returns an empty State with the default passive health policy:
// three consecutive failures eject a member for ten seconds.
func NewState() *State {
	return &State{m: make(map[string]*health), EjectAfter: 3, EjectFor: 10 * time.Second, now: time.Now}
}

func (s *State) health(addr string) *health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.m[addr]
	if h == nil {
		h = &health{}
		s.m[addr] = h
	}
	return h
}

// Pool is a route's backends with a selection policy.
type Pool struct {
	state   *State
	members []*Backend
	next    atomic.Uint64
	// expanded lists member indices repeated by weight: round robin over it
	// is smooth enough for small weights and costs nothing per pick.
	expanded []int
}

// NewPool returns a round-robin pool over members. The Backends are copied.
func NewPool(state *State, members []Backend) *Pool {
	p := &Pool{state: state}
	for i := range members {
		b := &Backend{Address: members[i].Address, Weight: members[i].Weight, TLS: members[i].TLS}
		b.health = state.health(b.Address)
		p.members = append(p.members, b)
		for w := 0; w < b.Weight; w++ {
			p.expanded = append(p.expanded, i)
		}
	}
	return p
}

// Members returns the pool's backends.
func (p *Pool) Members() []*Backend { return p.members }

// Pick returns the next healthy backend in round-robin order, skipping those
// in exclude (already tried for this handshake) and ejected ones. When every
// member is ejected it still returns one that was not tried, because a
// guess beats a certain 503.
func (p *Pool) Pick(exclude []*Backend) (*Backend, error) {
	n := len(p.expanded)
	if n == 0 {
		return nil, ErrNoBackend
	}
	now := p.state.now()
	start := p.next.Add(1) - 1
	var fallback *Backend
	for i := 0; i < n; i++ {
		b := p.members[p.expanded[(start+uint64(i))%uint64(n)]]
		if contains(exclude, b) {
			continue
		}
		b.health.mu.Lock()
		ejected := now.Before(b.health.ejectedTo)
		b.health.mu.Unlock()
		if !ejected {
			return b, nil
		}
		if fallback == nil {
			fallback = b
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, ErrNoBackend
}

// Tries is how many members a handshake may try before it gives up.
func (p *Pool) Tries() int { return len(p.members) }

func contains(list []*Backend, b *Backend) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

// Done reports how a connection attempt to b went: err == nil means the
// backend accepted the session.
func (p *Pool) Done(b *Backend, err error) {
	h := b.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.failures = 0
		h.ejectedTo = time.Time{}
		return
	}
	h.failures++
	if h.failures >= p.state.EjectAfter {
		h.ejectedTo = p.state.now().Add(p.state.EjectFor)
	}
}

// Acquire counts a live session on b; Release undoes it.
func (b *Backend) Acquire() { b.active.Add(1) }

// Release ends a live session on b.
func (b *Backend) Release() { b.active.Add(-1) }
