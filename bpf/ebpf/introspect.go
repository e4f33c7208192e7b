package ebpf

import (
	"sort"
	"sync/atomic"
)

// What the daemon shows of its programs and maps (`netyard bpf prog|map
// show`, bpftool's listings, and the Prometheus collector).

// mapIDs numbers maps (bpftool's map ids), unique in the process.
var mapIDs atomic.Uint32

// ID is the map's id, unique in the process (`bpf map show`'s "ID:").
func (m *Map) ID() uint32 { return m.id }

// Memlock is what the map's storage takes, in bytes (bpftool's memlock).
func (m *Map) Memlock() int {
	n := len(m.values) + len(m.keys) + len(m.used) + 4*(len(m.buckets)+len(m.next)+len(m.hashes)+len(m.free)+len(m.ref)) + 8*len(m.progs)
	if m.ring != nil {
		n += len(m.ring.data)
	}
	return n
}

// ID is the program's id (tc's "id N", bpftool's "ID:").
func (p *Program) ID() uint32 { return p.id }

// Namespace is the namespace the program was loaded for ("" when it was
// not loaded through a Loader).
func (p *Program) Namespace() string { return p.ns }

// RunTime is the time spent in runs while the loader's stats were on
// (bpftool's run_time_ns), in nanoseconds.
func (p *Program) RunTime() uint64 { return p.runNS.Load() }

// SetStats turns run time accounting on or off for the loader's
// programs, as the sysctl kernel.bpf_stats_enabled does for the kernel's.
// Runs are counted either way (Program.Stats).
func (l *Loader) SetStats(on bool) { l.stats.Store(on) }

// StatsEnabled says whether run times are being accounted.
func (l *Loader) StatsEnabled() bool { return l.stats.Load() }

// ProgramsIn returns the programs loaded for namespace ns, by id.
func (l *Loader) ProgramsIn(ns string) []*Program {
	var out []*Program
	for _, p := range l.Programs() {
		if p.ns == ns {
			out = append(out, p)
		}
	}
	return out
}

// MapsIn returns namespace ns's maps, by id: those of its programs and
// its pinned maps.
func (l *Loader) MapsIn(ns string) []*Map {
	seen := map[*Map]bool{}
	var out []*Map
	add := func(m *Map) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	for _, p := range l.ProgramsIn(ns) {
		for _, m := range p.maps {
			add(m)
		}
	}
	for _, m := range l.PinnedMaps(ns) {
		add(m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Release implements bpf.Releaser: the program leaves its loader's
// listings (its filter was deleted or replaced).
func (p *Program) Release() {
	if p.loader != nil {
		p.loader.Forget(p.id)
	}
}
