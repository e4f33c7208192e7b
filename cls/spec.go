// Package cls holds tc's classifiers and the chains they sit in: filters
// ordered by priority in numbered chains, each filter a classifier (flower,
// matchall) and a list of actions, with the kernel's semantics for verdicts,
// "goto chain" and reclassification (net/sched/cls_api.c).
package cls

import "netyard/act"

// Handles of the hooks, as tc writes them (include/uapi/linux/pkt_sched.h).
const (
	// HandleIngress is TC_H_INGRESS / TC_H_CLSACT (ffff:fff1), the
	// ingress/clsact qdisc's handle.
	HandleIngress uint32 = 0xfffffff1
	// ParentIngress is TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS),
	// ffff:fff2: "tc filter add dev X ingress".
	ParentIngress uint32 = 0xfffffff2
	// ParentEgress is TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS),
	// ffff:fff3: "tc filter add dev X egress".
	ParentEgress uint32 = 0xfffffff3
	// HandleRoot is TC_H_ROOT.
	HandleRoot uint32 = 0xffffffff
)

// Filter is one filter's configuration, what "tc filter add" says.
type Filter struct {
	Dev string
	// Parent is the hook or class the filter is attached to:
	// ParentIngress, ParentEgress, or a classful qdisc's handle.
	Parent uint32
	Chain  uint32
	// Prio is tc's "pref"/"prio"; 0 asks for one (as the kernel does:
	// 49152 for the first filter, then one below the lowest in use).
	Prio uint16
	// Protocol is the EtherType the filter applies to (host order);
	// wire.EtherTypeAll for "all". It is compared to the frame's outer
	// EtherType: on a VLAN-tagged frame that is the tag's TPID.
	Protocol uint16
	// Handle is the filter's handle within its priority; 0 asks for one.
	Handle uint32
	// Classifier is the kind-specific part (flower, matchall).
	Classifier Spec
	// Actions run in order when the classifier matches.
	Actions []act.Spec
	// ClassID is "classid"/"flowid": the class a classful qdisc puts a
	// matching packet in (0 for none).
	ClassID uint32
	// SkipHW and SkipSW are tc's flags. netyard is all software: skip_hw
	// is accepted and changes nothing, skip_sw is refused.
	SkipHW, SkipSW bool
}

// Spec is a classifier's configuration.
type Spec interface {
	// Kind is tc's name: "flower", "matchall".
	Kind() string
}
