package wsproto

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Figures in the comments were measured with
//
//	go test -run '^$' -bench . -benchmem ./gateway/internal/wsproto
//
// on Go 1.26, linux/amd64, an Intel Xeon with 2 cores shared with other
// work: compare allocations exactly and times only roughly.

// BenchmarkReadHeader reads the headers of masked 64-byte frames from a
// buffered reader and skips their payloads.
//
// Measured: 25.8 ns/op, 0 B/op, 0 allocs/op (29.1 ns before a whole
// header was decoded in place).
func BenchmarkReadHeader(b *testing.B) {
	raw := bytes.Repeat(frame(ServerSide, ws.OpBinary, true, rep(7, 64)), 4096)
	rd := bytes.NewReader(raw)
	br := bufio.NewReaderSize(rd, 64<<10)
	scratch := make([]byte, MaxHeaderSize)
	b.ReportAllocs()
	for b.Loop() {
		h, err := ReadHeader(br, scratch)
		if err == io.EOF {
			rd.Reset(raw)
			br.Reset(rd)
			h, err = ReadHeader(br, scratch)
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := br.Discard(int(h.Length)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidator is one frame's round: CheckHeader, CheckPayload on the
// whole unmasked payload, EndFrame. Text is mixed ASCII and multi-byte UTF-8.
//
// Measured (all 0 B/op, 0 allocs/op):
//
//	text/64B       41.7 ns/op   1534 MB/s
//	text/1KiB       445 ns/op   2303 MB/s
//	text/64KiB    32797 ns/op   1998 MB/s
//	binary/64B      4.8 ns/op   (no per-byte work: size checks only)
//	binary/1KiB     4.7 ns/op
//	binary/64KiB    4.8 ns/op
func BenchmarkValidator(b *testing.B) {
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, n := range []int{64, 1 << 10, 64 << 10} {
			name := "binary/"
			if op == ws.OpText {
				name = "text/"
			}
			b.Run(name+sizeName(n), func(b *testing.B) {
				p := sampleText(n)
				h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: testKey, Length: int64(n)}
				var v Validator
				v.Init(ServerSide, 1<<20, 1<<20)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if err := v.CheckHeader(h); err != nil {
						b.Fatal(err)
					}
					if err := v.CheckPayload(h, p); err != nil {
						b.Fatal(err)
					}
					if err := v.EndFrame(h); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkUTF8 validates text in one Write, and in 100-byte pieces that cut
// code points; stdlib is utf8.Valid on the same bytes, for reference.
//
// Measured (all 0 B/op, 0 allocs/op):
//
//	ascii/1KiB    whole 27.3 ns (37.5 GB/s)   pieces 127 ns (8.1 GB/s)    stdlib 24.3 ns
//	mixed/1KiB    whole 431 ns (2.4 GB/s)     pieces 589 ns (1.7 GB/s)    stdlib 438 ns
//	ascii/64KiB   whole 1557 ns (42 GB/s)     pieces 6858 ns (9.6 GB/s)   stdlib 1536 ns
//	mixed/64KiB   whole 28269 ns (2.3 GB/s)   pieces 38481 ns (1.7 GB/s)  stdlib 26651 ns
func BenchmarkUTF8(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10} {
		for _, kind := range []string{"ascii", "mixed"} {
			p := sampleText(n)
			if kind == "ascii" {
				p = rep('a', n)
			}
			b.Run(kind+"/"+sizeName(n)+"/whole", func(b *testing.B) {
				var u UTF8
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					u.Reset()
					if !u.Write(p) || !u.Complete() {
						b.Fatal("invalid")
					}
				}
			})
			b.Run(kind+"/"+sizeName(n)+"/pieces", func(b *testing.B) {
				var u UTF8
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					u.Reset()
					for off := 0; off < len(p); off += 100 {
						if !u.Write(p[off:min(off+100, len(p))]) {
							b.Fatal("invalid")
						}
					}
					if !u.Complete() {
						b.Fatal("incomplete")
					}
				}
			})
			b.Run(kind+"/"+sizeName(n)+"/stdlib", func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if !utf8.Valid(p) {
						b.Fatal("invalid")
					}
				}
			})
		}
	}
}

// BenchmarkAppendFrame writes a frame into a reused buffer, with a key from
// a MaskSource.
//
// Measured (all 0 B/op, 0 allocs/op):
//
//	unmasked/64B    14.7 ns/op   4.4 GB/s     masked/64B    20.8 ns/op   3.1 GB/s
//	unmasked/1KiB   20.7 ns/op    49 GB/s     masked/1KiB   34.8 ns/op    29 GB/s
//	unmasked/64KiB  1289 ns/op    51 GB/s     masked/64KiB  2560 ns/op    26 GB/s
func BenchmarkAppendFrame(b *testing.B) {
	for _, mask := range []bool{false, true} {
		for _, n := range []int{64, 1 << 10, 64 << 10} {
			name := "unmasked/"
			if mask {
				name = "masked/"
			}
			b.Run(name+sizeName(n), func(b *testing.B) {
				p := rep('x', n)
				dst := make([]byte, 0, MaxHeaderSize+n)
				var masks MaskSource
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					dst = AppendFrame(dst[:0], ws.OpBinary, true, p, mask, masks.Next())
				}
			})
		}
	}
}

// Measured: 3.0 ns/op, 0 B/op, 0 allocs/op.
func BenchmarkMaskSource(b *testing.B) {
	var m MaskSource
	m.Seed()
	var sink [4]byte
	b.ReportAllocs()
	for b.Loop() {
		sink = m.Next()
	}
	_ = sink
}

// BenchmarkCheckRequest checks a parsed browser upgrade with two offered
// subprotocols and one extension offer.
//
// Measured: 668 ns/op, 224 B/op, 7 allocs/op (the Upgrade, its two slices,
// and the Values slices of four headers).
func BenchmarkCheckRequest(b *testing.B) {
	r := parse(b, upgradeHead("", "+Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "+Cookie: session=0123456789abcdef"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CheckRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendUpstreamRequest re-originates the same upgrade into a
// reused buffer.
//
// Measured: 313 ns/op, 0 B/op, 0 allocs/op.
func BenchmarkAppendUpstreamRequest(b *testing.B) {
	r := parse(b, upgradeHead("", "+Cookie: session=0123456789abcdef", "+User-Agent: Mozilla/5.0 (X11; Linux x86_64)"))
	u, err := CheckRequest(r)
	if err != nil {
		b.Fatal(err)
	}
	o := UpstreamOptions{Key: weirKey, ClientIP: netip.MustParseAddr("203.0.113.7"), Proto: "https"}
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendUpstreamRequest(dst[:0], r, u, o)
	}
}

// Measured: 203 ns/op, 32 B/op, 1 allocs/op (the returned string).
func BenchmarkComputeAccept(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ComputeAccept("dGhlIHNhbXBsZSBub25jZQ==")
	}
}

// sampleText is n bytes of valid UTF-8: mostly ASCII with 2-, 3- and 4-byte
// code points, padded with ASCII to exactly n.
func sampleText(n int) []byte {
	const unit = "The quick brown fox \u00e9\u00e8 jumps \u20ac over \U0001F600 the lazy dog. "
	var sb strings.Builder
	for sb.Len()+len(unit) <= n {
		sb.WriteString(unit)
	}
	for sb.Len() < n {
		sb.WriteByte('.')
	}
	return []byte(sb.String())
}

func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return itoa(n>>10) + "KiB"
	default:
		return itoa(n) + "B"
	}
}
