package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrSize reports a size that does not parse: not a whole number of bytes
// with an optional unit, negative, or beyond what int64 holds.
var ErrSize = errors.New("invalid size")

// Size is a number of bytes. In configuration it is written either as a plain
// integer ("512", or a YAML integer) or with a unit: binary units KiB, MiB,
// GiB and TiB (powers of 1024) or decimal units KB, MB, GB and TB (powers of
// 1000). Units are case-insensitive and may follow a space ("64 KiB"). Only
// whole numbers are accepted, so a size is always exact.
type Size int64

// sizeUnits lists every accepted unit with its factor. Binary units come first
// so that String picks the largest exact binary unit.
var sizeUnits = [...]struct {
	name   string
	factor int64
}{
	{"TiB", 1 << 40},
	{"GiB", 1 << 30},
	{"MiB", 1 << 20},
	{"KiB", 1 << 10},
	{"TB", 1e12},
	{"GB", 1e9},
	{"MB", 1e6},
	{"KB", 1e3},
	{"B", 1},
}

// ParseSize parses s as a Size. Errors wrap ErrSize.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	end := 0
	for end < len(t) && t[end] >= '0' && t[end] <= '9' {
		end++
	}
	if end == 0 {
		// No leading digit: empty, negative ("-1"), a sign or a unit alone.
		return 0, fmt.Errorf("%w %q: expected a whole number of bytes with an optional unit, like 512, 64KiB or 1MB", ErrSize, s)
	}
	n, err := strconv.ParseInt(t[:end], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: too large", ErrSize, s)
	}
	unit := strings.TrimSpace(t[end:])
	if unit == "" {
		return Size(n), nil
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/u.factor {
				return 0, fmt.Errorf("%w %q: too large", ErrSize, s)
			}
			return Size(n * u.factor), nil
		}
	}
	return 0, fmt.Errorf("%w %q: unknown unit %q (expected B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)", ErrSize, s, unit)
}

// String prints the size in the largest binary unit that divides it exactly
// ("16KiB", "1MiB"), or as a plain byte count when none does ("1000").
func (s Size) String() string {
	if s > 0 {
		for _, u := range sizeUnits[:4] {
			if int64(s)%u.factor == 0 {
				return strconv.FormatInt(int64(s)/u.factor, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText implements encoding.TextMarshaler with String's form, which
// ParseSize reads back to the same value.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSize.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
