// Package pkt holds netyard's packet buffer, its metadata and its pool.
//
// A Buffer is a frame in a fixed-size backing array with headroom in front of
// it, so that headers (VLAN tags, encapsulations) can be pushed without a copy
// of the payload. Its reference count has the semantics of the kernel's
// refcount_t (include/linux/refcount.h): it never wraps; an increment from
// zero, an overflow and an underflow saturate the counter, are counted in
// Faults and logged (rate-limited), and the buffer is then never recycled
// (a saturated buffer leaks on purpose, as the kernel's does, rather than
// being handed out twice).
//
// The pool recycles buffers. In debug mode (PoolConfig.Debug) recycling is
// off: a released buffer is poisoned and abandoned, so that a use after the
// last Release reads poison instead of another packet's bytes. In leak-check
// mode the pool remembers every live buffer and Leaks reports the ones that
// were never released; tests run in that mode (see internal/testutil).
//
// The pool also enforces a global packet-memory limit, as tcp_mem does for
// TCP sockets: Get fails with ErrNoMemory once the bytes held by live buffers
// would exceed the limit.
package pkt
