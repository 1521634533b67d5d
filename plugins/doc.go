// Package plugins runs WebSocket message filters compiled to WebAssembly
// (ABI v1, specified in sdk/ABI.md) on wazero, and exposes each loaded
// plugin version as a filters.ReleasableFactory, so the gateway's chain
// cannot tell a sandboxed filter from a native one.
//
// It owns: the ABI v1 host (the weir_v1 host module, export and import
// checks), the compilation cache, the pool of pinned shard instances per
// plugin version, the CPU and memory bounds of guest calls, crash recovery,
// the host-owned key/value store and guest-defined metrics, and the offline
// runner behind `weir filter test` (RunOffline).
//
// # Lifecycle
//
//	h, _ := plugins.NewHost(ctx, plugins.HostOptions{CacheDir: dir})
//	p, err := h.Load(ctx, "redact", wasm, config) // compile, check, probe, pre-warm
//	chain := filters.NewChain(filters.Entry{Name: "redact", Factory: p})
//	...                                          // sessions: p.NewFilter per session
//	p2, err := h.Load(ctx, "redact", newWasm, config) // hot reload: a new version aside
//	p.Drain(ctx, 30*time.Second)                 // optional: tell old sessions
//	p.Release(ctx)                               // closes when its last session ended
//
// Load is the place where a bad module fails: invalid bytes, a missing or
// mistyped export, a forbidden import, too much declared memory or a
// failing weir_init are load errors (ErrInvalidModule, ErrMissingExport,
// ...), and nothing is left running. Load is not cheap (it compiles, 0.3 ms
// for a small C module to hundreds of ms for a Go one, much less from the
// on-disk cache); NewFilter is (no guest call); OnMessage is the hot path.
//
// # The shard model
//
// A plugin version runs HostOptions.Shards instances. NewFilter pins a
// session to the least loaded healthy instance for the session's life and
// gives it a session id that instance never reuses. Each instance is
// guarded by a mutex held for exactly one guest call: calls of one instance
// never overlap, calls of different instances run in parallel. The guest
// keeps per-session state keyed by the session id.
//
// # Costs and contracts
//
//   - OnMessage copies the payload into the guest's buffer, makes one call
//     with a reused stack and copies the result back into Message.Payload
//     (in place when it is not longer; otherwise into a per-session buffer)
//     before releasing the instance. It allocates nothing on that path; a
//     1 KiB message through a no-op C filter costs about 50 ns.
//   - Every guest call has a CPU deadline (HostOptions.CallTimeout). The
//     module is metered at load (package plugins/internal/meter): a few
//     instructions per loop iteration and function entry, and a call into
//     the host every 2^18 instructions, where the deadline is checked and
//     the Go scheduler may stop the goroutine for a garbage collection. No
//     goroutine or timer per call. See RATIONALE.md.
//   - A trap or an overrun fails the call (ErrTrap, ErrCallTimeout, with a
//     *CallError), discards the instance, asks every other session pinned to
//     it to close with 1011 through its filters.Sender, and replaces the
//     instance (with exponential back-off when it keeps failing). The
//     session whose call failed gets the error: the chain closes it with
//     1011 or skips the filter (on_error: skip).
//   - Linear memory is capped per instance (HostOptions.MemoryLimitBytes);
//     memory.grow beyond it fails inside the guest.
//   - Host functions check every (pointer, length) the guest passes and
//     answer a status instead of reading out of range.
//   - filters.Sender: Send is called while the instance is locked and must
//     not call back into the session's filters (it queues); CloseSession is
//     called after the instance is unlocked, and may call OnClose at once.
//
// This package must not import gateway or policy; it imports filters.
package plugins
