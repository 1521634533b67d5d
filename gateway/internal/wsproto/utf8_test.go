package wsproto

import (
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// checkSplits compares UTF8 with utf8.Valid for p written whole, split once
// at every position, and split into pieces of every size up to 5.
func checkSplits(t *testing.T, p []byte) {
	t.Helper()
	want := utf8.Valid(p)
	var u UTF8
	got := u.Write(p) && u.Complete()
	if got != want {
		t.Fatalf(
			"whole %x: got %v, want %v",
			p, got, want)
	}
	for i := 0; i <= len(p); i++ {
		u.Reset()
		got := u.Write(p[:i]) && u.Write(p[i:]) && u.Complete()
		if got != want {
			t.Fatalf(
				"%x split at %d: got %v, want %v",
				p, i, got, want)
		}
	}
	for size := 1; size <= 5; size++ {
		u.Reset()
		ok := true
		for off := 0; off < len(p) && ok; off += size {
			ok = u.Write(p[off:min(off+size, len(p))])
		}
		if got := ok && u.Complete(); got != want {
			t.Fatalf(
				"%x in pieces of %d: got %v, want %v",
				p, size, got, want)
		}
	}
}

func TestUTF8Adversarial(t *testing.T) {
	for _, c := range utf8Cases {
		t.Run(c.id, func(t *testing.T) {
			p := mustHex(c.hex)
			if utf8.Valid(p) != c.valid {
				t.Fatalf(
					"case table disagrees with utf8.Valid on %x",
					p)
			}
			checkSplits(t, p)
			// The same bytes inside ASCII, to cross the 8-byte fast path.
			checkSplits(t, append(append([]byte("0123456789abcdef"), p...), "fedcba9876543210"...))
		})
	}
}

// TestUTF8Random compares with utf8.Valid on random mixes of valid code
// points, lone continuation bytes, surrogates and bytes that never appear.
func TestUTF8Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := [][]byte{
		[]byte("a"), []byte("abcdefgh"), []byte("\u00e9"), []byte("\u20ac"), []byte("\U0001F600"),
		{0x80}, {0xbf}, {0xc0}, {0xc1}, {0xe0, 0x80}, {0xed, 0xa0, 0x80}, {0xf4, 0x90}, {0xf5}, {0xff},
		{0xf0}, {0xe2, 0x82},
	}
	for i := 0; i < 3000; i++ {
		var p []byte
		n := rng.IntN(12)
		for j := 0; j < n; j++ {
			p = append(p, pieces[rng.IntN(len(pieces))]...)
		}
		if rng.IntN(4) == 0 {
			for j := rng.IntN(6); j > 0; j-- {
				p = append(p, byte(rng.Uint32()))
			}
		}
		checkSplits(t, p)
	}
}

func TestUTF8StaysFailed(t *testing.T) {
	var u UTF8
	if u.Write([]byte{0xff}) {
		t.Fatal("0xff accepted")
	}
	if u.Write([]byte("a")) || u.Complete() {
		t.Fatal("a failed stream recovered without Reset")
	}
	u.Reset()
	if !u.Write([]byte("a")) || !u.Complete() {
		t.Fatal("Reset did not clear the failure")
	}
}

func TestUTF8Allocs(t *testing.T) {
	p := []byte("h\u00e9llo w\u00f6rld \U0001F600 and more ASCII text")
	var u UTF8
	n := testing.AllocsPerRun(100, func() {
		u.Reset()
		for i := 0; i < len(p); i += 3 {
			u.Write(p[i:min(i+3, len(p))])
		}
	})
	if n != 0 {
		t.Fatalf(
			"%v allocations",
			n)
	}
}
