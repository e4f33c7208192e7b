// Package qdisc defines the queueing-discipline interface. Each discipline
// lives in a sub-package (qdisc/pfifo, ...) with its configuration type and
// an unexported implementation, as gVisor's link/qdisc does.
package qdisc

import (
	"netyard/pkt"
)

// Handles, as in include/uapi/linux/pkt_sched.h.
const (
	HandleRoot    uint32 = 0xffffffff // TC_H_ROOT
	HandleIngress uint32 = 0xfffffff1 // TC_H_INGRESS, also TC_H_CLSACT
)

// Spec is one qdisc's configuration, what "tc qdisc add" says.
type Spec struct {
	Dev string
	// Parent is HandleRoot, HandleIngress (for ingress/clsact), or a
	// class of a classful parent (major:minor).
	Parent uint32
	// Handle is the qdisc's own major:0 handle; 0 asks for one.
	Handle uint32
	Params Params
}

// Params is the kind-specific part of a qdisc's configuration.
type Params interface {
	// Kind is tc's name: "pfifo", "bfifo", "clsact", "ingress", ...
	Kind() string
}

// Clsact is the clsact pseudo-qdisc: it gives a device an ingress and an
// egress filter hook (sch_ingress.c). netyard gives every device both hooks
// already, so adding it only makes the configuration read like the
// kernel's; its statistics are the hooks'.
type Clsact struct{}

// Kind implements Params.
func (Clsact) Kind() string { return "clsact" }

// Ingress is the ingress pseudo-qdisc: an ingress filter hook only.
type Ingress struct{}

// Kind implements Params.
func (Ingress) Kind() string { return "ingress" }

// Stats are the counters every qdisc keeps (struct gnet_stats_queue and
// gnet_stats_basic in the kernel), read as one snapshot.
type Stats struct {
	Bytes, Packets uint64 // sent
	Drops          uint64
	Overlimits     uint64
	Requeues       uint64
	Backlog        uint64 // bytes queued now
	Qlen           uint64 // packets queued now
}

// Qdisc is a running queueing discipline on one TX queue. It is used by one
// worker at a time: a device's TX queue belongs to one worker.
type Qdisc interface {
	// Enqueue takes ownership of p. It reports false when p (or
	// another packet, for disciplines that drop from the head or the
	// fattest flow) was dropped; a dropped packet has been released and
	// counted.
	Enqueue(p *pkt.Buffer, now int64) bool
	// Dequeue returns the next packet to send at time now, or nil.
	Dequeue(now int64) *pkt.Buffer
	// Len is the number of packets queued.
	Len() int
	// Stats returns the counters.
	Stats() Stats
	// Params returns the configuration it runs with.
	Params() Params
	// Reset drops every queued packet (on delete or replace).
	Reset()
}

// ClassifyResult is what a classful qdisc's filters decided for a packet
// (tcf_classify's return value as the qdisc's classify reads it).
type ClassifyResult uint8

const (
	// NoMatch: no filter decided; the qdisc falls back (htb's default
	// class or direct queue, prio's priomap).
	NoMatch ClassifyResult = iota
	// Matched: a filter chose the class id returned with it.
	Matched
	// Dropped: an action dropped the packet (TC_ACT_SHOT); the qdisc
	// releases it and counts a drop.
	Dropped
	// Taken: an action took the packet (mirred's redirect, or stolen,
	// queued or trap, already released); the qdisc must not touch it
	// and counts nothing (__NET_XMIT_STOLEN).
	Taken
)

// Classifier is a classful qdisc's filter list ("tc filter add dev D
// parent 1: ..."): the datapath's cls.Block with the running worker's
// context. A qdisc calls it from Enqueue, where the kernel's classify
// calls tcf_classify.
type Classifier interface {
	Classify(p *pkt.Buffer) (classid uint32, r ClassifyResult)
}
