//go:build wasip1

// Package weir is the Go SDK for weir message filters: WebAssembly modules
// that implement ABI v1 (sdk/ABI.md), built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o filter.wasm .
//
// The package owns the module's exports (weir_abi_v1, weir_buffer and every
// hook) and the one buffer the host copies payloads through. A filter is a
// value implementing [Filter], plus any of the optional hook interfaces
// ([Initializer], [Handshaker], [Opener], [Closer], [SessionEnder],
// [Ticker], [Drainer]); it is handed to [Register] from the filter's init
// function. The wrappers of the weir_v1 imports take Go slices and strings.
//
// Concurrency: the host never runs two hooks of one instance at once, so
// nothing here locks. Nothing in this package may be called from another
// goroutine than the hook's.
package weir
