// Package meter rewrites a WebAssembly module so that a host can bound the
// CPU time of every call into it without wazero's per-call goroutine.
//
// Machine code compiled by wazero cannot be preempted by the Go runtime: a
// guest spinning in a loop holds its P forever, and the next stop-the-world
// of the garbage collector waits for it, freezing the whole process. wazero's
// own remedy (RuntimeConfig.WithCloseOnContextDone) starts a goroutine for
// every call and leaves compiled code at every loop back-edge, which costs
// about 0.7 µs per call plus tens of nanoseconds per loop iteration in
// wazero v1.12.0 (see plugins/RATIONALE.md for the measurements).
//
// Instrument instead adds one mutable i32 global (the fuel) and one imported
// function (the yield), and inserts at the start of every function body and
// every loop body:
//
//	global.get $fuel ; i32.const W ; i32.sub ; global.set $fuel
//	global.get $fuel ; i32.const 0 ; i32.lt_s
//	if  call $yield ; global.set $fuel  end
//
// W is the number of instructions of that body outside nested loops, so the
// fuel tracks executed instructions from above. When it runs out the guest
// calls the host's yield function, which is ordinary Go code: the Go
// scheduler can stop the goroutine there for a garbage collection, and the
// host checks the call's deadline and panics to abort an overrunning call.
// The yield returns the next allowance of fuel. A loop iteration costs a few
// extra machine instructions and no call into Go.
//
// Safety rests on two properties, both checked here:
//   - every loop and function body of the output is metered: the decoder
//     understands every WebAssembly 2.0 instruction exactly as wazero reads
//     it, and anything it does not understand is refused rather than copied;
//   - the guest cannot touch the fuel or call the yield itself: the original
//     code may only name globals and functions that existed before the
//     rewrite, and every function index is shifted past the new import.
//
// The output is deterministic, so wazero's compilation cache (keyed by the
// module's bytes) still hits across restarts.
//
// This package only rewrites bytes; it imports nothing from the project.
package meter
