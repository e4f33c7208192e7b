package ebpf

import (
	"encoding/binary"
	"sync"
)

// perfRingSize is the buffer of a perf_event_array: netyard keeps one
// queue per map (not per CPU); 256 KiB holds a few thousand headers.
const perfRingSize = 256 << 10

// ringHdr is the 8-byte record header, as the kernel's bpf_ringbuf_hdr:
// the length with the busy and discard bits, and the page offset (unused
// here, kept zero).
const (
	ringHdr     = 8
	ringBusy    = 1 << 31
	ringDiscard = 1 << 30
)

// ring is a BPF ring buffer (kernel/bpf/ringbuf.c): producers reserve
// records in order, commit or discard them in any order; the consumer
// reads committed records in order and stops at the first busy one. A
// record never wraps: when one does not fit before the end, the rest of
// the buffer becomes a discarded pad (the kernel maps its data twice to
// let records wrap; netyard gives programs a contiguous region instead).
type ring struct {
	mu   sync.Mutex
	data []byte
	mask uint64
	prod uint64 // producer position (bytes ever reserved)
	cons uint64 // consumer position
	lost uint64 // reservations refused for lack of room
}

func newRing(size int) *ring {
	return &ring{data: make([]byte, size), mask: uint64(size - 1)}
}

// reserve returns the data offset of a new record of n bytes, or -1.
func (r *ring) reserve(n int) int {
	if n <= 0 || n > len(r.data)/2 {
		return -1
	}
	need := uint64(ringHdr + (n+7)&^7)
	r.mu.Lock()
	defer r.mu.Unlock()
	pos := r.prod & r.mask
	if pad := uint64(len(r.data)) - pos; pad < need {
		// pad to the end with a discarded record
		if r.prod+pad+need-r.cons > uint64(len(r.data)) {
			r.lost++
			return -1
		}
		binary.LittleEndian.PutUint32(r.data[pos:], uint32(pad-ringHdr)|ringDiscard)
		r.prod += pad
		pos = 0
	}
	if r.prod+need-r.cons > uint64(len(r.data)) {
		r.lost++
		return -1
	}
	binary.LittleEndian.PutUint32(r.data[pos:], uint32(n)|ringBusy)
	binary.LittleEndian.PutUint32(r.data[pos+4:], 0)
	r.prod += need
	return int(pos) + ringHdr
}

// commit ends a reservation at data offset off, keeping (or discarding)
// the record.
func (r *ring) commit(off int, discard bool) {
	r.mu.Lock()
	h := binary.LittleEndian.Uint32(r.data[off-ringHdr:])
	h &^= ringBusy
	if discard {
		h |= ringDiscard
	}
	binary.LittleEndian.PutUint32(r.data[off-ringHdr:], h)
	r.mu.Unlock()
}

// output copies p into a new record (bpf_ringbuf_output).
func (r *ring) output(p []byte) bool {
	off := r.reserve(len(p))
	if off < 0 {
		return false
	}
	copy(r.data[off:], p)
	r.commit(off, false)
	return true
}

// Read appends the committed records to fn in order, consuming them,
// until a busy record or the producer; it returns how many it passed.
func (r *ring) read(max int, fn func([]byte)) int {
	n := 0
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.cons < r.prod && (max <= 0 || n < max) {
		pos := r.cons & r.mask
		h := binary.LittleEndian.Uint32(r.data[pos:])
		if h&ringBusy != 0 {
			break
		}
		l := int(h &^ (ringBusy | ringDiscard))
		if h&ringDiscard == 0 {
			fn(r.data[pos+ringHdr : pos+ringHdr+uint64(l)])
			n++
		}
		r.cons += uint64(ringHdr + (l+7)&^7)
	}
	return n
}

// ReadRecords hands every committed record of a ringbuf or
// perf_event_array map to fn, in order, and consumes them: what
// `netyard bpf map` streams to a client. The slice is valid during the
// call only.
func (m *Map) ReadRecords(fn func(rec []byte)) int {
	if m.ring == nil {
		return 0
	}
	return m.ring.read(0, fn)
}

// ReadRecordsN is ReadRecords of at most max records (max <= 0: all);
// the rest stay in the ring.
func (m *Map) ReadRecordsN(max int, fn func(rec []byte)) int {
	if m.ring == nil {
		return 0
	}
	return m.ring.read(max, fn)
}

// Lost is the number of records a full ring refused.
func (m *Map) Lost() uint64 {
	if m.ring == nil {
		return 0
	}
	m.ring.mu.Lock()
	defer m.ring.mu.Unlock()
	return m.ring.lost
}
