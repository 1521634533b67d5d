//go:build race

package e2e

// raceBuild is true when the tests run under the race detector; the weir
// binary is then built with -race as well, so that a data race inside the
// gateway makes it exit non-zero and fails the test that drove it.
const raceBuild = true
