package pkt

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ErrNoMemory is returned by Get when the pool's packet-memory limit would be
// exceeded (the tcp_mem "pressure" point, without the soft stage: netyard
// drops at the hard limit and counts it).
var ErrNoMemory = errors.New("pkt: packet memory limit reached")

// poison fills released buffers in debug mode. 0x6b is the kernel's
// POISON_FREE (include/linux/poison.h): a reader of freed memory sees
// "kkkk..." and knows what happened.
const poison = 0x6b

// PoolConfig configures a Pool. The zero value is a recycling pool of
// DefaultDataSize buffers with no memory limit.
type PoolConfig struct {
	// DataSize is the largest frame a buffer holds (without Headroom).
	DataSize int
	// Limit is the most bytes that live buffers may hold together (their
	// whole backing arrays are counted); 0 means no limit.
	Limit int64
	// Debug turns recycling off: a released buffer is poisoned and
	// dropped for the garbage collector instead of reused, so stale
	// pointers read poison. See BenchmarkPoolDebug for the cost.
	Debug bool
	// LeakCheck records every live buffer with the stack that got it, for
	// Leaks. It costs a map insert per Get; tests turn it on.
	LeakCheck bool
	// Logger receives refcount fault reports, at most one a second.
	// nil means slog.Default().
	Logger *slog.Logger
}

// Pool hands out Buffers and takes them back.
//
// Recycling goes through a sync.Pool: its per-P caches make Get and Release
// lock-free on the fast path (see BenchmarkPoolGetRelease). The memory
// account is one atomic counter shared by all cores; a packet costs one add
// on Get and one on its last Release.
type Pool struct {
	cfg     PoolConfig
	bufSize int
	free    sync.Pool
	big     sync.Pool // GSODataSize buffers (GetBig)
	// inUse is the bytes held by live buffers. Every buffer of a pool
	// has the same size, so it also counts them: one atomic add per Get
	// and one per last Release, not two. Big buffers (GetBig) are
	// counted apart as well, in bigLive.
	inUse   atomic.Int64
	bigLive atomic.Int64
	denied  atomic.Uint64
	faults  [numFaults]atomic.Uint64
	logSome rate.Sometimes

	leakMu sync.Mutex
	leaks  map[*Buffer]string
}

// NewPool returns a pool.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.DataSize <= 0 {
		cfg.DataSize = DefaultDataSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Pool{cfg: cfg, bufSize: Headroom + cfg.DataSize}
	p.logSome = rate.Sometimes{Interval: time.Second}
	if cfg.LeakCheck {
		p.leaks = make(map[*Buffer]string)
	}
	return p
}

// DataSize is the largest frame a buffer of this pool holds.
func (p *Pool) DataSize() int { return p.cfg.DataSize }

// Get returns a buffer with one reference, an empty frame at Headroom and
// zeroed metadata with the TTL at DefaultTTL.
func (p *Pool) Get() (*Buffer, error) { return p.get(false) }

// GetBig is Get for a frame longer than DataSize: a buffer of GSODataSize,
// for GSO super-frames (up to 64 KiB) a backend receives with their
// offload metadata. Big buffers are recycled apart from the others, so
// neither allocates per packet once warm; they are charged to the memory
// limit at their size.
func (p *Pool) GetBig() (*Buffer, error) { return p.get(true) }

func (p *Pool) get(big bool) (*Buffer, error) {
	size := int64(p.bufSize)
	free := &p.free
	if big && p.cfg.DataSize < GSODataSize {
		size = Headroom + GSODataSize
		free = &p.big
		p.bigLive.Add(1)
	}
	if n := p.inUse.Add(size); p.cfg.Limit > 0 && n > p.cfg.Limit {
		p.inUse.Add(-size)
		if free == &p.big {
			p.bigLive.Add(-1)
		}
		p.denied.Add(1)
		return nil, fmt.Errorf("%w: %d of %d bytes in use", ErrNoMemory, n-size, p.cfg.Limit)
	}
	var b *Buffer
	if !p.cfg.Debug {
		b, _ = free.Get().(*Buffer)
		// A free buffer's count is 0. Anything else means it was
		// released again after it was freed (a double free caught by
		// the refcount, which saturated it): it is abandoned, never
		// handed out.
		if b != nil && b.refs.load() != 0 {
			b = nil
		}
	}
	if b == nil {
		b = &Buffer{buf: make([]byte, size), pool: p}
	}
	b.size = size
	b.head, b.tail = Headroom, Headroom
	b.Meta = Meta{TTL: DefaultTTL}
	b.Hdr = wireHeadersZero
	b.Next = nil
	b.refs.set(1)
	if p.leaks != nil {
		p.trackLeak(b)
	}
	return b, nil
}

func (p *Pool) put(b *Buffer) {
	p.inUse.Add(-b.size)
	big := len(b.buf) > p.bufSize
	if big {
		p.bigLive.Add(-1)
	}
	if p.leaks != nil {
		p.leakMu.Lock()
		delete(p.leaks, b)
		p.leakMu.Unlock()
	}
	b.Next = nil
	if p.cfg.Debug {
		for i := range b.buf {
			b.buf[i] = poison
		}
		b.head, b.tail = 0, 0
		return
	}
	if big {
		p.big.Put(b)
		return
	}
	p.free.Put(b)
}

func (p *Pool) trackLeak(b *Buffer) {
	var pcs [8]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	site := ""
	for {
		f, more := frames.Next()
		site += fmt.Sprintf("\n\t%s:%d", f.File, f.Line)
		if !more {
			break
		}
	}
	p.leakMu.Lock()
	p.leaks[b] = site
	p.leakMu.Unlock()
}

func (p *Pool) fault(f Fault, b *Buffer) {
	p.faults[f].Add(1)
	p.logSome.Do(func() {
		p.cfg.Logger.Warn("refcount_t: "+f.String(), "fault", int(f), "frame_len", b.Len())
	})
}

// Stats is a snapshot of a pool's accounting.
type Stats struct {
	Live       int64  // buffers handed out and not released
	BytesInUse int64  // bytes charged to the memory account
	Limit      int64  // the memory limit, 0 for none
	Denied     uint64 // Gets refused by the limit
	// Faults counts refcount misuse by kind (see Fault).
	AddOnZero, Overflow, Underflow uint64
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	big := p.bigLive.Load()
	return Stats{
		Live:       big + (p.inUse.Load()-big*(Headroom+GSODataSize))/int64(p.bufSize),
		BytesInUse: p.inUse.Load(),
		Limit:      p.cfg.Limit,
		Denied:     p.denied.Load(),
		AddOnZero:  p.faults[FaultAddOnZero].Load(),
		Overflow:   p.faults[FaultOverflow].Load(),
		Underflow:  p.faults[FaultUnderflow].Load(),
	}
}

// Leaks lists the live buffers with the call sites that got them. It is
// empty unless the pool was made with LeakCheck.
func (p *Pool) Leaks() []string {
	p.leakMu.Lock()
	defer p.leakMu.Unlock()
	var out []string
	for b, site := range p.leaks {
		out = append(out, fmt.Sprintf("buffer %p (%d bytes, refs %d) from:%s", b, b.Len(), b.refs.load(), site))
	}
	return out
}
