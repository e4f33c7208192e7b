package datapath

import "sync/atomic"

// devIndex maps a device index to its device for the data path (mirred's
// target, NextWake) without a lock: pages of 256 atomic pointers under a
// page list that is copied only when a page is added. Adding or deleting
// a device is one atomic store (O(1)); the list of pages, copied once
// every 256 devices, is 1/256 of what a copy-on-write slice of devices
// copied at every change (10,000 namespaces spent most of their creation
// and deletion copying it: docs/PERFORMANCE.md, "Tenants"). A lookup is
// one more dependent load than the slice's.
type devIndex struct {
	pages atomic.Pointer[[]*devPage]
}

const devPageBits = 8

type devPage [1 << devPageBits]atomic.Pointer[Device]

// get returns the device with index i, or nil.
func (x *devIndex) get(i int32) *Device {
	pp := x.pages.Load()
	if pp == nil || i <= 0 {
		return nil
	}
	ps := *pp
	p := int(i) >> devPageBits
	if p >= len(ps) {
		return nil
	}
	return ps[p][i&(1<<devPageBits-1)].Load()
}

// set stores d (nil to delete) at index i; under the engine's lock.
func (x *devIndex) set(i int32, d *Device) {
	var ps []*devPage
	if pp := x.pages.Load(); pp != nil {
		ps = *pp
	}
	p := int(i) >> devPageBits
	if p >= len(ps) {
		grown := make([]*devPage, p+1)
		copy(grown, ps)
		for k := len(ps); k <= p; k++ {
			grown[k] = new(devPage)
		}
		x.pages.Store(&grown)
		ps = grown
	}
	ps[p][i&(1<<devPageBits-1)].Store(d)
}

// each calls fn for every device, in index order.
func (x *devIndex) each(fn func(*Device)) {
	pp := x.pages.Load()
	if pp == nil {
		return
	}
	for _, pg := range *pp {
		for k := range pg {
			if d := pg[k].Load(); d != nil {
				fn(d)
			}
		}
	}
}
