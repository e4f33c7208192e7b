//go:build race

package testutil

// RaceEnabled reports whether the race detector is on. Under it sync.Pool
// drops a share of what it is given on purpose, so allocation counts mean
// nothing and allocation tests skip.
const RaceEnabled = true
