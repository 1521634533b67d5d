package meter

import (
	"context"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// A tiny assembler for hand-written test modules.

func u(v uint32) []byte { return appendU32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func vec(items ...[]byte) []byte { return cat(u(uint32(len(items))), cat(items...)) }

func str(s string) []byte { return cat(u(uint32(len(s))), []byte(s)) }

func sec(id byte, payload ...[]byte) []byte {
	p := cat(payload...)
	return cat([]byte{id}, u(uint32(len(p))), p)
}

func wasmModule(sections ...[]byte) []byte {
	return cat([]byte("\x00asm\x01\x00\x00\x00"), cat(sections...))
}

func functype(params, results []byte) []byte {
	return cat([]byte{0x60}, u(uint32(len(params))), params, u(uint32(len(results))), results)
}

// body encodes a function body with the given locals (count, type pairs).
func fnBody(locals []byte, code ...byte) []byte {
	b := cat(locals, code)
	return cat(u(uint32(len(b))), b)
}

var (
	i32 = []byte{0x7f}
	no  = []byte{}
)

// loopModule exports count(n): a loop that increments a local n times.
func loopModule() []byte {
	return wasmModule(
		sec(1, vec(functype(i32, i32))),
		sec(3, vec(u(0))),
		sec(5, vec([]byte{0x00, 0x01})),
		sec(7, vec(cat(str("count"), []byte{0x00}, u(0)), cat(str("memory"), []byte{0x02}, u(0)))),
		sec(10, vec(fnBody(vec(cat(u(1), i32)),
			0x03, 0x40, // loop
			0x20, 1, 0x41, 1, 0x6a, 0x21, 1, // local1 += 1
			0x20, 1, 0x20, 0, 0x49, 0x0d, 0, // br_if 0 (local1 < n)
			0x0b,
			0x20, 1,
			0x0b))),
	)
}

// remapModule covers every place a function index appears: an import,
// call, call_indirect through an element segment, ref.func, exports, the
// start function and the name section.
func remapModule() []byte {
	return wasmModule(
		sec(1, vec(functype(i32, i32), functype(no, no), functype(no, i32))),
		sec(2, vec(cat(str("env"), str("add1"), []byte{0x00}, u(0)))),
		sec(3, vec(u(0), u(0), u(1), u(2))),
		sec(4, vec([]byte{0x70, 0x00, 0x01})),
		sec(6, vec([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b})),
		sec(7, vec(
			cat(str("double"), []byte{0x00}, u(1)),
			cat(str("apply"), []byte{0x00}, u(2)),
			cat(str("get"), []byte{0x00}, u(4)),
		)),
		sec(8, u(3)),
		sec(9, vec(cat(u(0), []byte{0x41, 0x00, 0x0b}, vec(u(1))))),
		sec(10, vec(
			fnBody(vec(), 0x20, 0, 0x20, 0, 0x6a, 0x0b),                // double
			fnBody(vec(), 0x20, 0, 0x41, 0, 0x11, 0, 0, 0x0b),          // apply: table[0](x)
			fnBody(vec(), 0x41, 42, 0x24, 0, 0x0b),                     // start: g0 = 42
			fnBody(vec(), 0x23, 0, 0x10, 0, 0xd2, 1, 0xd1, 0x6a, 0x0b), // get: add1(g0) + is_null(ref.func double)
		)),
		sec(0, str("name"), []byte{1}, func() []byte {
			m := vec(cat(u(0), str("add1")), cat(u(1), str("double")), cat(u(4), str("get")))
			return cat(u(uint32(len(m))), m)
		}()),
	)
}

// runtimeWithYield returns a wazero runtime with the yield import, counting
// its calls.
func runtimeWithYield(t *testing.T, calls *int) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	t.Cleanup(func() { _ = r.Close(ctx) })
	_, err := r.NewHostModuleBuilder("weir_meter").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
			*calls++
			s[0] = 1000
		}), nil, []api.ValueType{api.ValueTypeI32}).Export("yield").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
			s[0] = uint64(uint32(s[0]) + 1)
		}), []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).Export("add1").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var testOptions = Options{YieldModule: "weir_meter", YieldName: "yield", Fuel: 1000}

func instantiate(t *testing.T, r wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	out, _, err := Instrument(wasm, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.Instantiate(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func call(t *testing.T, mod api.Module, name string, args ...uint64) uint64 {
	t.Helper()
	res, err := mod.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res[0]
}

func TestLoopIsMetered(t *testing.T) {
	var yields int
	r := runtimeWithYield(t, &yields)
	mod := instantiate(t, r, loopModule())
	if got := call(t, mod, "count", 1_000_000); got != 1_000_000 {
		t.Fatalf("count = %d", got)
	}
	// The loop body weighs 9 instructions (its end included); 1000 fuel
	// per yield.
	if want := 1_000_000 * 9 / 1000; yields < want*9/10 || yields > want*11/10 {
		t.Fatalf("%d yields, want about %d", yields, want)
	}
}

func TestIndicesAreRemapped(t *testing.T) {
	var yields int
	r := runtimeWithYield(t, &yields)
	mod := instantiate(t, r, remapModule())
	if got := call(t, mod, "apply", 21); got != 42 {
		t.Fatalf("apply(21) = %d", got)
	}
	if got := call(t, mod, "double", 4); got != 8 {
		t.Fatalf("double(4) = %d", got)
	}
	if got := call(t, mod, "get"); got != 43 {
		t.Fatalf("get() = %d (start function or call remap broken)", got)
	}
}

func TestInfo(t *testing.T) {
	_, info, err := Instrument(remapModule(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if info.Functions != 5 || len(info.Imports) != 1 || info.Imports[0] != (Import{"env", "add1", ExternFunc}) || info.HasMemory {
		t.Fatalf("%+v", info)
	}
	_, info, err = Instrument(loopModule(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if !info.HasMemory || info.MemoryMinPages != 1 || info.Loops != 1 {
		t.Fatalf("%+v", info)
	}
}

func TestAddedSectionsInOrder(t *testing.T) {
	var yields int
	r := runtimeWithYield(t, &yields)
	for name, wasm := range map[string][]byte{
		"empty":       wasmModule(),
		"memory only": wasmModule(sec(5, vec([]byte{0x00, 0x01}))),
		"custom only": wasmModule(sec(0, str("producers"), []byte{0})),
	} {
		out, _, err := Instrument(wasm, testOptions)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cm, err := r.CompileModule(context.Background(), out)
		if err != nil {
			t.Fatalf("%s: the output does not compile: %v", name, err)
		}
		_ = cm.Close(context.Background())
	}
}

func TestRefused(t *testing.T) {
	withCode := func(code ...byte) []byte {
		return wasmModule(
			sec(1, vec(functype(no, no))),
			sec(3, vec(u(0))),
			sec(6, vec([]byte{0x7f, 0x01, 0x41, 0x00, 0x0b})),
			sec(10, vec(fnBody(vec(), code...))),
		)
	}
	for _, tt := range []struct {
		name string
		wasm []byte
		want error
	}{
		{"no magic", []byte("\x00asx\x01\x00\x00\x00"), ErrMalformed},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), ErrMalformed},
		{"truncated section", wasmModule([]byte{1, 10, 1}), ErrMalformed},
		{"sections out of order", wasmModule(sec(3, vec()), sec(1, vec())), ErrMalformed},
		{"unknown section", wasmModule(sec(13, vec())), ErrUnsupported},
		{"body without end", withCode(0x01), ErrMalformed},
		{"bytes after end", withCode(0x0b, 0x01), ErrMalformed},
		{"global.set of the fuel's index", withCode(0x41, 0, 0x24, 1, 0x0b), ErrMalformed},
		{"global.get of the fuel's index", withCode(0x23, 1, 0x1a, 0x0b), ErrMalformed},
		{"call out of range", withCode(0x10, 1, 0x0b), ErrMalformed},
		{"call_indirect type out of range", withCode(0x41, 0, 0x11, 1, 0, 0x0b), ErrMalformed},
		{"return_call", withCode(0x12, 0, 0x0b), ErrUnsupported},
		{"atomics", withCode(0xfe, 0x00, 0x0b), ErrUnsupported},
		{"try_table", withCode(0x1f, 0x40, 0x00, 0x0b, 0x0b), ErrUnsupported},
		{"unknown vector op", withCode(0xfd, 0x9a, 0x0b), ErrUnsupported},
		{"over-long LEB128", withCode(0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b), ErrMalformed},
		{"two memories", wasmModule(sec(5, vec([]byte{0x00, 0x01}, []byte{0x00, 0x01}))), ErrUnsupported},
		{"shared memory", wasmModule(sec(5, vec([]byte{0x03, 0x01, 0x02}))), ErrUnsupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Instrument(tt.wasm, testOptions); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	o := testOptions
	o.MaxFunctions = 4
	if _, _, err := Instrument(remapModule(), o); !errors.Is(err, ErrTooManyFunctions) {
		t.Fatalf("MaxFunctions: %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	a, _, err := Instrument(remapModule(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := Instrument(remapModule(), testOptions)
	if string(a) != string(b) {
		t.Fatal("two rewrites of one module differ")
	}
}

func TestLEB(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 1 << 20, -1 << 31, 1<<31 - 1} {
		r := reader{b: appendS32(nil, v)}
		if got := r.sleb(5); got != int64(v) || r.err != nil || r.pos != len(r.b) {
			t.Errorf("s32 %d: got %d, %v", v, got, r.err)
		}
	}
	for _, v := range []uint32{0, 1, 127, 128, 1 << 31, 1<<32 - 1} {
		r := reader{b: appendU32(nil, v)}
		if got := r.u32(); got != v || r.err != nil {
			t.Errorf("u32 %d: got %d, %v", v, got, r.err)
		}
	}
	r := reader{b: []byte{0xff, 0xff, 0xff, 0xff, 0x1f}}
	if r.u32(); r.err == nil {
		t.Error("u32 with overflow bits accepted")
	}
}

// withoutNames empties "name" custom sections, which the rewrite
// re-encodes.
func withoutNames(wasm []byte) []byte {
	secs, err := splitSections(wasm)
	if err != nil {
		return wasm
	}
	out := append([]byte(nil), wasm[:8]...)
	for _, s := range secs {
		r := reader{b: s.payload}
		if s.id == secCustom && r.name() == "name" && r.err == nil {
			out = appendSection(out, s.id, appendName(nil, "name"))
			continue
		}
		out = appendSection(out, s.id, s.payload)
	}
	return out
}

// FuzzInstrument checks that Instrument never panics, and that it never
// turns a module wazero rejects into one it accepts: the guest must not gain
// anything (such as naming the fuel global) from the rewrite. The reverse
// can happen for modules that lean on quirks of wazero's decoder (a name
// subsection read past its end, say): those are refused, which fails
// closed.
func FuzzInstrument(f *testing.F) {
	f.Add(loopModule())
	f.Add(remapModule())
	f.Add(wasmModule())
	f.Add(wasmModule(sec(5, vec([]byte{0x00, 0x01}))))
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	defer r.Close(ctx)
	compiles := func(b []byte) bool {
		cm, err := r.CompileModule(ctx, b)
		if err != nil {
			return false
		}
		_ = cm.Close(ctx)
		return true
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, _, err := Instrument(wasm, testOptions)
		if err != nil {
			return
		}
		if compiles(out) && !compiles(withoutNames(wasm)) {
			t.Fatal("the instrumented module compiles, the original does not")
		}
	})
}
