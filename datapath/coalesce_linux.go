package datapath

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// coalesceSleep sleeps d in a raw nanosleep, keeping the worker's P: the
// runtime's timers round a sleep under a millisecond up to one when the
// process has nothing else to run (netpoll's epoll_wait takes
// milliseconds), and a blocking system call through entersyscall would
// wake the runtime's monitor thread and may hand the P to another thread.
// A goroutine that needs this P waits at most d, as it would behind a
// worker busy with a batch.
func coalesceSleep(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}
