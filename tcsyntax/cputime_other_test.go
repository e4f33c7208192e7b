//go:build !unix

package tcsyntax

// cpuTime is not measured here.
func cpuTime() int64 { return -1 }
