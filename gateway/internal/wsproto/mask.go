package wsproto

import (
	crand "crypto/rand"
	"math/rand/v2"
)

// MaskSource makes masking keys for the frames one session writes as a
// WebSocket client (RFC 6455 §5.3: unpredictable keys from a strong source
// of entropy). It is seeded once from crypto/rand and then runs ChaCha8, a
// cryptographically strong generator, so a key costs a few nanoseconds and
// no system call or allocation.
//
// The zero value seeds itself on first use. It is not safe for concurrent
// use: one per writer. It holds about 330 bytes; a writer that never masks
// needs none.
type MaskSource struct {
	rng    rand.ChaCha8
	spare  uint32
	hasOne bool // spare holds an unused key
	seeded bool
}

// Seed seeds s from crypto/rand.
func (s *MaskSource) Seed() {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // crypto/rand.Read never fails (it aborts the process instead)
	s.rng.Seed(seed)
	s.hasOne = false
	s.seeded = true
}

// Next returns the next masking key. Each 64-bit output gives two keys.
func (s *MaskSource) Next() [4]byte {
	if s.hasOne {
		s.hasOne = false
		return le32(s.spare)
	}
	if !s.seeded {
		s.Seed()
	}
	v := s.rng.Uint64()
	s.spare = uint32(v >> 32)
	s.hasOne = true
	return le32(uint32(v))
}

func le32(v uint32) [4]byte {
	return [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}
