package stats

import "golang.org/x/sys/unix"

// mapAnon maps size bytes of zeroed private memory, or returns nil (the
// caller then uses the Go heap). Pages are backed on first touch, so a
// chunk's untouched tail costs no memory.
func mapAnon(size int) []byte {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	return b
}

func unmapAnon(b []byte) { _ = unix.Munmap(b) }
