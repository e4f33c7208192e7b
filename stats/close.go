package stats

// Close takes the set out of its domain: Advance no longer trims its
// logs, and once nothing else refers to it the collector frees it with
// its chunks (their off-heap maps go with them, runtime.AddCleanup in
// newChunk). The owner of a namespace or a hook that is deleted closes
// its sets after the grace period in which workers may still count into
// them; a closed set must not be used again. Close is O(1): the last set
// of the domain takes its place. Closing twice is harmless.
func (s *Set) Close() {
	d := s.dom
	d.setsMu.Lock()
	defer d.setsMu.Unlock()
	i := s.domIdx
	if i < 0 || i >= len(d.sets) || d.sets[i] != s {
		return
	}
	last := len(d.sets) - 1
	d.sets[i] = d.sets[last]
	d.sets[i].domIdx = i
	d.sets[last] = nil
	d.sets = d.sets[:last]
	s.domIdx = -1
}

// Sets is the number of open sets in the domain (tests check that deleted
// namespaces leave none behind).
func (d *Domain) Sets() int {
	d.setsMu.Lock()
	defer d.setsMu.Unlock()
	return len(d.sets)
}

// Grace waits until every worker batch that entered before the call has
// ended: Advance without trimming the sets' logs, for a control plane
// that needs only the grace period (a device's deletion), whatever the
// number of sets (Advance's trim is O(sets)).
func (d *Domain) Grace() {
	d.ctl.Lock()
	closed := d.gen.Add(1) - 1
	d.ctl.Unlock()
	d.waitQuiet(closed + 1)
}
