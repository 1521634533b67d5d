package config

import (
	"errors"
	"math"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"512", 512},
		{" 512 ", 512},
		{"512B", 512},
		{"64KiB", 64 << 10},
		{"64kib", 64 << 10},
		{"64 KiB", 64 << 10},
		{"1MiB", 1 << 20},
		{"1mib", 1 << 20},
		{"2GiB", 2 << 30},
		{"1TiB", 1 << 40},
		{"1KB", 1000},
		{"1kb", 1000},
		{"1MB", 1000000},
		{"1 GB", 1000000000},
		{"1TB", 1000000000000},
		{"9223372036854775807", math.MaxInt64},
		{"8388607TiB", 8388607 << 40},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if err != nil {
				t.Fatalf("ParseSize(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseSizeRejects(t *testing.T) {
	for _, in := range []string{
		"", " ", "-1", "-1KiB", "+1", "KiB", "1.5MiB", "1e6", "1 K", "1k", "1XiB", "1 MiB extra",
		"9223372036854775808",    // one past int64
		"8388608TiB",             // 2^63 bytes
		"99999999999999999999GB", // digits overflow
		"10000000000GB",          // product overflows
	} {
		t.Run(in, func(t *testing.T) {
			if got, err := ParseSize(in); !errors.Is(err, ErrSize) {
				t.Fatalf("ParseSize(%q) = %d, %v; want ErrSize", in, got, err)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1024, "1KiB"},
		{1536, "1536"},
		{16 << 10, "16KiB"},
		{1 << 20, "1MiB"},
		{3 << 30, "3GiB"},
		{5 << 40, "5TiB"},
		{(1 << 20) + 1024, "1025KiB"},
		{-1, "-1"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Fatalf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

func TestSizeText(t *testing.T) {
	var s Size
	if err := s.UnmarshalText([]byte("2MiB")); err != nil || s != 2<<20 {
		t.Fatalf("UnmarshalText(2MiB) = %d, %v", s, err)
	}
	if err := s.UnmarshalText([]byte("lots")); !errors.Is(err, ErrSize) {
		t.Fatalf("UnmarshalText(lots) = %v, want ErrSize", err)
	}
	if s != 2<<20 {
		t.Fatalf("failed UnmarshalText changed the value to %d", s)
	}
	b, err := Size(64 << 10).MarshalText()
	if err != nil || string(b) != "64KiB" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
}

// FuzzParseSize checks that ParseSize never panics, never returns a negative
// size, and that what it accepts prints back to the same value.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512", "64KiB", "1MiB", "2GiB", "1KB", "1 MB", "1gb", "-1", "1.5MiB", "", "9223372036854775807", "8388608TiB", "1 TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSize(s)
		if err != nil {
			if !errors.Is(err, ErrSize) {
				t.Fatalf("ParseSize(%q) error %v does not wrap ErrSize", s, err)
			}
			return
		}
		if got < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, got)
		}
		back, err := ParseSize(got.String())
		if err != nil || back != got {
			t.Fatalf("ParseSize(%q) = %d prints %q, which parses to %d, %v", s, got, got.String(), back, err)
		}
	})
}
