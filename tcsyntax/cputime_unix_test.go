//go:build unix

package tcsyntax

import "syscall"

// cpuTime is the CPU time the process has used (user and system, all
// threads, the garbage collector's included), in nanoseconds: on a
// shared machine a benchmark's wall time depends on its neighbours, its
// CPU time much less.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
