// Package mq holds the configuration of the two multi-queue root
// disciplines: mq (net/sched/sch_mq.c) and mqprio (net/sched/sch_mqprio.c
// with the checks of sch_mqprio_lib.c). Neither queues packets itself.
// Each gives every TX queue of the device a child qdisc of its own, class
// major:queue+1, and the stack picks the queue before the packet reaches
// a qdisc (netdev.PickTx, the kernel's netdev_pick_tx). mqprio also gives
// the device traffic classes: priority -> traffic class -> a range of
// queues, which is what PickTx reads (netdev.TCMap).
//
// Both exist only at the root of a multiqueue device: mq_init and
// mqprio_init refuse any other parent, and a device with one TX queue,
// with EOPNOTSUPP. Validate checks the queues; the caller checks the
// parent (Spec.Parent == qdisc.HandleRoot).
//
// The running discipline (routing to children, summing their counters as
// mq_dump does) belongs to the datapath, which owns the TX queues.
//
// Left out, on purpose: mqprio's hardware offload (hw 1, the mode,
// shaper, min_rate/max_rate and fp options): netyard has no hardware, so
// it is refused as on a device without ndo_setup_tc.
package mq

import (
	"errors"
	"fmt"

	"netyard/netdev"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
)

// Bounds of include/uapi/linux/pkt_sched.h and include/linux/pkt_sched.h.
const (
	// MaxTC is TC_QOPT_MAX_QUEUE (TC_MAX_QUEUE): the most traffic
	// classes, and the size of the count/offset arrays.
	MaxTC = 16
	// PrioMask is TC_BITMASK: a priority picks its traffic class by its
	// low 4 bits (netdev_get_prio_tc_map).
	PrioMask = 15
	// MinPriority is TC_H_MIN_PRIORITY: mqprio's traffic-class classes are
	// major:ffe0 + tc, above the per-queue classes major:1..major:N. A
	// device with this many TX queues would run into them, so mqprio_init
	// refuses it (ENOMEM).
	MinPriority = 0xffe0
	// HWOffloadMax is TC_MQPRIO_HW_OFFLOAD_MAX: larger "hw" values are
	// lowered to it (mqprio_parse_opt).
	HWOffloadMax = 1
)

// Errors the checks wrap, so that a caller can answer as the kernel does
// (EOPNOTSUPP for the first two, EINVAL for the rest).
var (
	// ErrNotMultiqueue: the device has a single TX queue
	// (!netif_is_multiqueue).
	ErrNotMultiqueue = errors.New("needs a multiqueue device")
	// ErrNoOffload: mqprio was asked for hardware offload ("hw 1", tc's
	// default) and netyard has no hardware.
	ErrNoOffload = errors.New("device does not support hardware offload")
	// ErrInvalid: the configuration is refused by mqprio_validate_qopt.
	ErrInvalid = errors.New("invalid mqprio configuration")
)

// DefaultChild is the qdisc each TX queue gets: the kernel gives the
// device's default qdisc (pfifo_fast, or net.core.default_qdisc); netyard
// has no pfifo_fast and gives a pfifo with the device's txqueuelen, as
// its default root is.
func DefaultChild() qdisc.Params { return fifo.Pfifo{} }

// QueueClass is the class id of TX queue queue (0-based) under an mq or
// mqprio with handle h: major:queue+1 (TC_H_MAKE(TC_H_MAJ(sch->handle),
// TC_H_MIN(ntx + 1)) in mq_init and mqprio_init), where a child qdisc is
// grafted with "tc qdisc add ... parent 8001:3".
func QueueClass(h uint32, queue int) uint32 { return h&0xffff0000 | uint32(queue+1)&0xffff }

// MQ is "tc qdisc add dev D root mq": one DefaultChild per TX queue. It
// has no parameters (tc has no q_mq.c and refuses any option).
type MQ struct{}

// Kind implements qdisc.Params.
func (MQ) Kind() string { return "mq" }

// Validate checks that mq can sit on a device with txQueues TX queues, as
// mq_init does.
func (MQ) Validate(txQueues int) error {
	if txQueues <= 1 {
		return fmt.Errorf("mq: %d TX queue(s): %w", txQueues, ErrNotMultiqueue)
	}
	return nil
}

// MQPrio is "mqprio [num_tc N] [map P0 .. P15] [queues C@O ...] [hw 0|1]"
// (struct tc_mqprio_qopt): NumTC traffic classes, Map from priority (& 15)
// to traffic class, and traffic class i owning TX queues Offset[i] ..
// Offset[i]+Count[i]-1.
type MQPrio struct {
	NumTC uint8
	Map   [PrioMask + 1]uint8
	// Count and Offset give each traffic class its queues; entries at or
	// past NumTC are not used.
	Count, Offset [MaxTC]uint16
	// HW asks for hardware offload: the driver would own the queue
	// layout. netyard has no hardware and accepts only 0.
	HW uint8
}

// Kind implements qdisc.Params.
func (MQPrio) Kind() string { return "mqprio" }

// DefaultMap is tc's priority map (q_mqprio.c): priorities 0-7 to
// traffic classes 0-7, then 8-15 to 0, 1, 1, 1, 3, 3, 3, 3.
var DefaultMap = [PrioMask + 1]uint8{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 1, 1, 3, 3, 3, 3}

// Defaults returns what tc sends when given no options: 8 traffic classes,
// DefaultMap, no queues, hw 1. As in Linux on a device without offload,
// it does not validate: give "hw 0" and the queues.
func Defaults() MQPrio { return MQPrio{NumTC: 8, Map: DefaultMap, HW: 1} }

// Validate checks m for a device with txQueues TX queues, in the order of
// mqprio_init, mqprio_parse_opt and mqprio_validate_qopt, and with their
// messages: a multiqueue device; num_tc at most 16; every priority mapped
// to an existing traffic class; without hardware offload, every traffic
// class owning at least one queue, inside the device's queues and
// overlapping no other class's; and finally no hardware offload, which
// netyard cannot do.
func (m MQPrio) Validate(txQueues int) error {
	switch {
	case txQueues <= 1:
		return fmt.Errorf("mqprio: %d TX queue(s): %w", txQueues, ErrNotMultiqueue)
	case txQueues >= MinPriority:
		return fmt.Errorf("mqprio: %d TX queues: at most %d fit the class ids: %w", txQueues, MinPriority-1, ErrInvalid)
	case m.NumTC > MaxTC:
		return fmt.Errorf("mqprio: num_tc %d: Number of traffic classes is outside valid range (at most %d): %w", m.NumTC, MaxTC, ErrInvalid)
	}
	for p, tc := range m.Map {
		if tc >= m.NumTC {
			return fmt.Errorf("mqprio: map: priority %d to traffic class %d: Invalid traffic class in priority to traffic class mapping (num_tc %d): %w",
				p, tc, m.NumTC, ErrInvalid)
		}
	}
	hw := min(m.HW, HWOffloadMax)
	if hw == 0 {
		// mqprio_validate_queue_counts, which the kernel skips when a
		// driver takes the layout over.
		for i := 0; i < int(m.NumTC); i++ {
			last := int(m.Offset[i]) + int(m.Count[i])
			switch {
			case m.Count[i] == 0:
				return fmt.Errorf("mqprio: queues: No queues for TC %d: %w", i, ErrInvalid)
			case int(m.Offset[i]) >= txQueues || last > txQueues:
				return fmt.Errorf("mqprio: queues: Queues %d@%d for TC %d exceed the %d TX queues available: %w",
					m.Count[i], m.Offset[i], i, txQueues, ErrInvalid)
			}
			for j := i + 1; j < int(m.NumTC); j++ {
				if max(int(m.Offset[i]), int(m.Offset[j])) < min(last, int(m.Offset[j])+int(m.Count[j])) {
					return fmt.Errorf("mqprio: queues: TC %d queues %d@%d overlap with TC %d queues %d@%d: %w",
						i, m.Count[i], m.Offset[i], j, m.Count[j], m.Offset[j], ErrInvalid)
				}
			}
		}
	}
	if hw != 0 {
		return fmt.Errorf("mqprio: hw %d: %w (netyard has none: give \"hw 0\")", m.HW, ErrNoOffload)
	}
	return nil
}

// TC returns the traffic class of priority prio: netdev_get_prio_tc_map,
// the map indexed by the priority's low 4 bits.
func (m MQPrio) TC(prio uint32) uint8 { return m.Map[prio&PrioMask] }

// QueueRange returns the TX queues a packet of priority prio may take:
// those of its traffic class (netdev_get_prio_tc_map, then tc_to_txq, as
// skb_tx_hash reads them). A count of 0 (only in a configuration Validate
// refuses) means what skb_tx_hash does with it: all of the device's
// queues.
func (m MQPrio) QueueRange(prio uint32) (offset, count uint16) {
	tc := m.TC(prio)
	if tc >= m.NumTC || int(tc) >= MaxTC {
		return 0, 0
	}
	return m.Offset[tc], m.Count[tc]
}

// QueueTC returns the traffic class whose queues include queue (0-based),
// or -1: netdev_txq_to_tc, which gives a queue class of mqprio its parent
// (major:ffe0+tc).
func (m MQPrio) QueueTC(queue int) int {
	for tc := 0; tc < int(m.NumTC) && tc < MaxTC; tc++ {
		if queue >= int(m.Offset[tc]) && queue < int(m.Offset[tc])+int(m.Count[tc]) {
			return tc
		}
	}
	return -1
}

// TCClass is the class id of traffic class tc under an mqprio with handle
// h: major:ffe0+tc (TC_H_MIN_PRIORITY + tc), a class at the root that sums
// its queues (mqprio_dump_class_stats).
func TCClass(h uint32, tc int) uint32 { return h&0xffff0000 | uint32(MinPriority+tc)&0xffff }

// TCMap returns the device's traffic classes as mqprio_init sets them
// (netdev_set_num_tc, netdev_set_tc_queue, netdev_set_prio_tc_map), for
// netdev.Device.SetTC. m must have passed Validate.
func (m MQPrio) TCMap() *netdev.TCMap {
	t := &netdev.TCMap{NumTC: m.NumTC, PrioTC: m.Map}
	n := min(int(m.NumTC), MaxTC)
	copy(t.Count[:n], m.Count[:n])
	copy(t.Offset[:n], m.Offset[:n])
	return t
}
