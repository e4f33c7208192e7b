//go:build !linux

package datapath

import "time"

// coalesceSleep sleeps d (coalesce_linux.go says why Linux's is raw).
func coalesceSleep(d time.Duration) { time.Sleep(d) }
