package wsproto

import "testing"

func TestMaskSource(t *testing.T) {
	var a, b MaskSource // zero values seed themselves
	seen := map[[4]byte]int{}
	for i := 0; i < 1000; i++ {
		ka, kb := a.Next(), b.Next()
		seen[ka]++
		seen[kb]++
	}
	// 2000 draws of 32 bits: a repeat is possible but several are not.
	if len(seen) < 1990 {
		t.Fatalf(
			"%d distinct keys in 2000",
			len(seen))
	}
	var c MaskSource
	c.Seed()
	if n := testing.AllocsPerRun(1000, func() { _ = c.Next() }); n != 0 {
		t.Fatalf(
			"%v allocations per key",
			n)
	}
}
