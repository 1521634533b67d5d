package plugins

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

func TestLoadErrors(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2})
	tests := []struct {
		name   string
		wasm   func(testing.TB) []byte
		config string
		want   error
		check  func(t *testing.T, err error)
	}{
		{
			name: "invalid wasm",
			wasm: func(testing.TB) []byte { return []byte("\x00asm\x01\x00\x00\x00\xff\x10garbage") },
			want: ErrInvalidModule,
		},
		{
			name: "not wasm at all",
			wasm: func(testing.TB) []byte { return []byte("#!/bin/sh\necho hi\n") },
			want: ErrInvalidModule,
		},
		{
			name: "missing export",
			wasm: func(tb testing.TB) []byte { return buildC(tb, "testdata/missing_export.c") },
			want: ErrMissingExport,
			check: func(t *testing.T, err error) {
				var ee *ExportError
				if !errors.As(err, &ee) || ee.Export != exportOnMessage {
					t.Fatalf("want an ExportError naming %s, got %v", exportOnMessage, err)
				}
			},
		},
		{
			name: "wrong signature",
			wasm: func(tb testing.TB) []byte { return buildC(tb, "testdata/bad_signature.c") },
			want: ErrExportType,
			check: func(t *testing.T, err error) {
				var ee *ExportError
				if !errors.As(err, &ee) || ee.Export != exportOnMessage || ee.Got == "" {
					t.Fatalf("want an ExportError naming %s with its type, got %v", exportOnMessage, err)
				}
			},
		},
		{
			name: "import from another module",
			wasm: func(tb testing.TB) []byte { return buildC(tb, "testdata/forbidden_import.c") },
			want: ErrForbiddenImport,
			check: func(t *testing.T, err error) {
				var ie *ImportError
				if !errors.As(err, &ie) || ie.Module != "env" || ie.Name != "open_socket" {
					t.Fatalf("want an ImportError naming env.open_socket, got %v", err)
				}
			},
		},
		{
			name: "unknown weir_v1 import",
			wasm: func(tb testing.TB) []byte { return buildC(tb, "testdata/unknown_import.c") },
			want: ErrUnknownImport,
		},
		{
			name: "initial memory over the cap",
			wasm: func(tb testing.TB) []byte { return buildC(tb, "testdata/big_memory.c") },
			want: ErrMemoryTooLarge,
		},
		{
			name: "weir_init fails",
			wasm: func(tb testing.TB) []byte { return buildC(tb, "testdata/init_fails.c") },
			want: ErrInitFailed,
			check: func(t *testing.T, err error) {
				var ie *InitError
				if !errors.As(err, &ie) || ie.Code != 7 {
					t.Fatalf("want InitError code 7, got %v", err)
				}
			},
		},
		{
			name: "module too large",
			wasm: func(testing.TB) []byte { return make([]byte, 33<<20) },
			want: ErrModuleTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := h.Load(context.Background(), "bad", tt.wasm(t), []byte(tt.config))
			if err == nil {
				_ = p.Release(context.Background())
				t.Fatal("load succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v is not %v", err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

// W-05: modules built to exhaust the host at compile time are refused by
// the load checks, before wazero's decoder (which pre-allocates by declared
// counts) sees them.
func TestLoadHostileModules(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1})
	// A table section declaring ~100 million tables in 37 bytes: wazero
	// v1.12.0 alone allocates 3.2 GB decoding it.
	bomb := []byte("\x00asm\x01\x00\x00\x00\x04%\x81\x81\x812\x81\x81\x8100000\x0000000\x000000000000\x04\x0000\x1b000")
	// A million functions.
	const n = 1_000_000
	leb := func(v uint32) []byte { return binary.AppendUvarint(nil, uint64(v)) }
	section := func(id byte, payload []byte) []byte {
		return append(append([]byte{id}, leb(uint32(len(payload)))...), payload...)
	}
	funcs := append(leb(n), bytes.Repeat([]byte{0}, n)...)
	code := append(leb(n), bytes.Repeat([]byte{2, 0, 0x0b}, n)...)
	million := append([]byte("\x00asm\x01\x00\x00\x00"), section(1, []byte{1, 0x60, 0, 0})...)
	million = append(million, section(3, funcs)...)
	million = append(million, section(10, code)...)

	for _, tt := range []struct {
		name string
		wasm []byte
		want error
	}{
		{"count bomb", bomb, ErrInvalidModule},
		{"a million functions", million, ErrModuleTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := h.Load(context.Background(), "hostile", tt.wasm, nil)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Fatalf("refusing the module allocated %d MiB", grew>>20)
			}
		})
	}
}

func TestLoadTooManyFunctions(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 1, MaxFunctions: 3})
	_, err := h.Load(context.Background(), "f", buildC(t, srcUppercase), nil)
	if !errors.Is(err, ErrModuleTooLarge) {
		t.Fatalf("got %v, want ErrModuleTooLarge", err)
	}
}

// A failed load leaves nothing running, and the init that succeeds with a
// config proves the config reaches weir_init.
func TestLoadConfigAndFailureLeavesNothing(t *testing.T) {
	h := newTestHost(t, HostOptions{Shards: 2})
	base := goroutines()
	wasm := buildC(t, "testdata/init_fails.c")
	for i := 0; i < 5; i++ {
		if _, err := h.Load(context.Background(), "f", wasm, nil); !errors.Is(err, ErrInitFailed) {
			t.Fatalf("load %d: %v", i, err)
		}
	}
	p, err := h.Load(context.Background(), "f", wasm, []byte("ok"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, base)
}

func TestLoadAfterClose(t *testing.T) {
	h, err := NewHost(context.Background(), HostOptions{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(context.Background(), "f", []byte("\x00asm"), nil); !errors.Is(err, ErrHostClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestCompilationCacheOnDisk(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		h := newTestHost(t, HostOptions{Shards: 1, CacheDir: dir})
		p := loadC(t, h, srcUppercase, "")
		ts := newSession(t, p, nil)
		if got := ts.must("abc"); got != "ABC" {
			t.Fatalf("run %d: %q", i, got)
		}
		ts.close(1000)
	}
}
