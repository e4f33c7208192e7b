//go:build race || !(amd64 || arm64)

package ebpf

import "sync/atomic"

// bump adds 1 to a run counter that has one writer (see bump.go).
func bump(c *atomic.Uint64) { c.Store(c.Load() + 1) }
