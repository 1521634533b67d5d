// Package pluginstest builds WebAssembly guests from source at test time,
// with the commands the SDK READMEs give, so that tests anywhere in the
// module (plugins, gateway, sdk/tck, tests/e2e, examples) run real modules
// compiled from this repository rather than checked-in binaries.
//
// Each builder skips the test, with the install hint, when its toolchain is
// missing (tests/setup.sh installs all of them), and caches what it built
// for the life of the test binary: a guest is compiled once however many
// tests load it.
package pluginstest
