package plugins

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
)

// Limits of the key/value store (sdk/ABI.md §5.3).
const (
	maxKVKey   = 256
	maxKVValue = 64 << 10
	maxCAS     = math.MaxInt32 // keeps kv_get's packed result non-negative
)

// kvStore is the host-owned key/value store. It is split into one space per
// plugin name, so versions of a plugin share their data across reloads and
// other plugins cannot read it; the bounds are shared by all spaces.
type kvStore struct {
	maxKeys  int64
	maxBytes int64
	keys     atomic.Int64
	bytes    atomic.Int64

	mu     sync.Mutex
	spaces map[string]*kvSpace
}

type kvSpace struct {
	store   *kvStore
	mu      sync.Mutex
	entries map[string]*kvEntry
}

type kvEntry struct {
	value []byte
	cas   uint32
}

func newKVStore(maxKeys int, maxBytes int64) *kvStore {
	return &kvStore{maxKeys: int64(maxKeys), maxBytes: maxBytes, spaces: map[string]*kvSpace{}}
}

// space returns the space of plugin name, creating it on first use.
func (s *kvStore) space(name string) *kvSpace {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.spaces[name]
	if sp == nil {
		sp = &kvSpace{store: s, entries: map[string]*kvEntry{}}
		s.spaces[name] = sp
	}
	return sp
}

// reserve accounts for a new key (when newKey) and a size change; it
// refuses what would exceed the bounds.
func (s *kvStore) reserve(newKey bool, delta int64) bool {
	if newKey {
		if s.keys.Add(1) > s.maxKeys {
			s.keys.Add(-1)
			return false
		}
	}
	if delta > 0 && s.bytes.Add(delta) > s.maxBytes {
		s.bytes.Add(-delta)
		if newKey {
			s.keys.Add(-1)
		}
		return false
	}
	if delta <= 0 {
		s.bytes.Add(delta)
	}
	return true
}

func nextCAS(c uint32) uint32 {
	if c >= maxCAS {
		return 1
	}
	return c + 1
}

// get copies the value of key into dst when it fits, and returns the value's
// length and version; ok is false when the key is absent.
func (sp *kvSpace) get(key []byte, dst []byte) (n int, cas uint32, ok bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.entries[string(key)]
	if e == nil {
		return 0, 0, false
	}
	if len(e.value) <= len(dst) {
		copy(dst, e.value)
	}
	return len(e.value), e.cas, true
}

// set implements kv_set: cas 0 is unconditional, an empty value deletes.
func (sp *kvSpace) set(key, value []byte, cas uint32) int32 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.entries[string(key)]
	if cas != 0 && (e == nil || e.cas != cas) {
		return statusCASMismatch
	}
	if len(value) == 0 {
		if e != nil {
			delete(sp.entries, string(key))
			sp.store.keys.Add(-1)
			sp.store.bytes.Add(-int64(len(key) + len(e.value)))
		}
		return statusOK
	}
	if e == nil {
		if !sp.store.reserve(true, int64(len(key)+len(value))) {
			return statusInternalFailure
		}
		sp.entries[string(key)] = &kvEntry{value: append([]byte(nil), value...), cas: 1}
		return statusOK
	}
	if !sp.store.reserve(false, int64(len(value)-len(e.value))) {
		return statusInternalFailure
	}
	e.value = append(e.value[:0], value...)
	e.cas = nextCAS(e.cas)
	return statusOK
}

// incr implements kv_incr; ok is false when the stored value is not 8 bytes
// long or the store is full.
func (sp *kvSpace) incr(key []byte, delta int64) (int64, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.entries[string(key)]
	if e == nil {
		if !sp.store.reserve(true, int64(len(key)+8)) {
			return 0, false
		}
		e = &kvEntry{value: make([]byte, 8)}
		sp.entries[string(key)] = e
	} else if len(e.value) != 8 {
		return 0, false
	}
	v := int64(binary.LittleEndian.Uint64(e.value)) + delta
	binary.LittleEndian.PutUint64(e.value, uint64(v))
	e.cas = nextCAS(e.cas)
	return v, true
}
