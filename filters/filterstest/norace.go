//go:build !race

package filterstest

// RaceEnabled is true in a build with the race detector, where sync.Pool
// drops items at random: allocation counts mean nothing there.
const RaceEnabled = false
