// Package tck is the conformance kit of weir's WASM filter ABI v1
// (sdk/ABI.md): one guest per SDK language (sdk/tck/c, go, rust and
// assemblyscript), all implementing the same small command protocol, and
// this runner, which loads a guest into a real plugins.Host and runs one
// list of cases against it. Every language must pass every case with the
// same outputs, so the kit tests each SDK as much as the host.
//
// The runner also checks coverage: the guest must import every function
// the host registers in module weir_v1 and export every hook of the ABI,
// so a host function cannot be added without a case that exercises it.
//
// The guests, the protocol and how to add a language are described in
// README.md. Run the kit with
//
//	go test ./sdk/tck/
//
// An SDK outside this repository runs it from its own test with
// [Run](t, wasm), given a module that implements the protocol.
//
// tck imports plugins (the real host) and filters, never the gateway
// (tests/arch holds the exception to the sdk rule); nothing imports tck.
package tck
