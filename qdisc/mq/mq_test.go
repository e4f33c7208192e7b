package mq

import (
	"errors"
	"strings"
	"testing"

	"netyard/netdev"
	"netyard/qdisc/fifo"
)

// three is the brief's example: "num_tc 3 map 2 2 1 0 2 ... queues 1@0 1@1
// 2@2 hw 0": priority 3 to TC 0 (queue 0), 2 to TC 1 (queue 1), the rest
// to TC 2 (queues 2 and 3).
func three() MQPrio {
	m := MQPrio{NumTC: 3, Count: [MaxTC]uint16{1, 1, 2}, Offset: [MaxTC]uint16{0, 1, 2}}
	for i := range m.Map {
		m.Map[i] = 2
	}
	m.Map[2], m.Map[3] = 1, 0
	return m
}

func TestMQPrioValidate(t *testing.T) {
	with := func(f func(*MQPrio)) MQPrio {
		m := three()
		f(&m)
		return m
	}
	tests := []struct {
		name     string
		m        MQPrio
		txQueues int
		is       error  // errors.Is target, nil for valid
		want     string // and the message names this
	}{
		{name: "valid", m: three(), txQueues: 4},
		{name: "valid with spare queues", m: three(), txQueues: 8},
		{name: "one traffic class over every queue", m: MQPrio{NumTC: 1, Count: [MaxTC]uint16{4}}, txQueues: 4},
		{name: "16 traffic classes", m: func() MQPrio {
			m := MQPrio{NumTC: 16}
			for i := range m.Count {
				m.Count[i], m.Offset[i] = 1, uint16(i)
			}
			return m
		}(), txQueues: 16},
		// mqprio_init: EOPNOTSUPP before anything is looked at.
		{name: "single-queue device", m: three(), txQueues: 1, is: ErrNotMultiqueue, want: "mqprio: 1 TX queue(s)"},
		{name: "too many queues for class ids", m: three(), txQueues: MinPriority, is: ErrInvalid, want: "65504 TX queues"},
		{name: "num_tc above 16", m: with(func(m *MQPrio) { m.NumTC = 17 }), txQueues: 4, is: ErrInvalid,
			want: "num_tc 17: Number of traffic classes is outside valid range"},
		{name: "map past num_tc", m: with(func(m *MQPrio) { m.Map[7] = 3 }), txQueues: 4, is: ErrInvalid,
			want: "priority 7 to traffic class 3: Invalid traffic class"},
		{name: "num_tc 0 leaves no class to map to", m: MQPrio{}, txQueues: 4, is: ErrInvalid, want: "priority 0 to traffic class 0"},
		{name: "class without queues", m: with(func(m *MQPrio) { m.Count[1] = 0 }), txQueues: 4, is: ErrInvalid,
			want: "No queues for TC 1"},
		{name: "offset past the queues", m: with(func(m *MQPrio) { m.Offset[2] = 4; m.Count[2] = 1 }), txQueues: 4, is: ErrInvalid,
			want: "Queues 1@4 for TC 2 exceed the 4 TX queues available"},
		{name: "range past the queues", m: three(), txQueues: 3, is: ErrInvalid,
			want: "Queues 2@2 for TC 2 exceed the 3 TX queues available"},
		{name: "overlap", m: with(func(m *MQPrio) { m.Offset[1] = 0 }), txQueues: 4, is: ErrInvalid,
			want: "TC 0 queues 1@0 overlap with TC 1 queues 1@0"},
		{name: "overlap inside a range", m: with(func(m *MQPrio) { m.Offset[0], m.Count[0] = 2, 1 }), txQueues: 4, is: ErrInvalid,
			want: "TC 0 queues 1@2 overlap with TC 2 queues 2@2"},
		// Entries past num_tc are not looked at.
		{name: "unused entries ignored", m: with(func(m *MQPrio) { m.Count[5], m.Offset[5] = 9, 9 }), txQueues: 4},
		// tc's default, hw 1: refused as on a device without
		// ndo_setup_tc, after the map check and without the queue
		// checks (the driver would own the layout).
		{name: "hardware offload", m: with(func(m *MQPrio) { m.HW = 1; m.Count[1] = 0 }), txQueues: 4, is: ErrNoOffload, want: "hw 1"},
		{name: "hw above the max is still offload", m: with(func(m *MQPrio) { m.HW = 7 }), txQueues: 4, is: ErrNoOffload, want: "hw 7"},
		{name: "tc defaults need hw 0 and queues", m: Defaults(), txQueues: 8, is: ErrNoOffload},
		{name: "map checked before offload", m: with(func(m *MQPrio) { m.HW = 1; m.Map[0] = 9 }), txQueues: 4, is: ErrInvalid,
			want: "traffic class 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate(tt.txQueues)
			if tt.is == nil {
				if err != nil {
					t.Fatalf("Validate(%d) = %v, want nil", tt.txQueues, err)
				}
				return
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("Validate(%d) = %v, want %v", tt.txQueues, err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate(%d) = %q, does not say %q", tt.txQueues, err, tt.want)
			}
		})
	}
}

func TestMQValidate(t *testing.T) {
	for _, tt := range []struct {
		txQueues int
		ok       bool
	}{{0, false}, {1, false}, {2, true}, {64, true}} {
		err := MQ{}.Validate(tt.txQueues)
		if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrNotMultiqueue) {
			t.Errorf("MQ.Validate(%d) = %v", tt.txQueues, err)
		}
	}
}

func TestQueueRange(t *testing.T) {
	m := three()
	tests := []struct {
		name          string
		prio          uint32
		offset, count uint16
	}{
		{"priority 0 to TC 2", 0, 2, 2},
		{"priority 2 to TC 1", 2, 1, 1},
		{"priority 3 to TC 0", 3, 0, 1},
		{"priority 15 to TC 2", 15, 2, 2},
		// Only the low 4 bits pick (TC_BITMASK): 19 is 3, and a
		// major:minor priority (1:3) is its low bits too.
		{"priority 19 is 3", 19, 0, 1},
		{"class id 1:3 is 3", 0x10003, 0, 1},
		{"class id 1:12 is 2", 0x10012, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, cnt := m.QueueRange(tt.prio)
			if off != tt.offset || cnt != tt.count {
				t.Errorf("QueueRange(%#x) = %d, %d; want %d, %d", tt.prio, off, cnt, tt.offset, tt.count)
			}
		})
	}
	// A map entry past num_tc (refused by Validate) gives no range: the
	// stack then falls back to every queue, as skb_tx_hash does.
	bad := three()
	bad.Map[4] = 5
	if off, cnt := bad.QueueRange(4); off != 0 || cnt != 0 {
		t.Errorf("QueueRange past num_tc = %d, %d; want 0, 0", off, cnt)
	}
}

func TestQueueTCAndClasses(t *testing.T) {
	m := three()
	for q, want := range []int{0, 1, 2, 2, -1} {
		if got := m.QueueTC(q); got != want {
			t.Errorf("QueueTC(%d) = %d, want %d", q, got, want)
		}
	}
	const h = 0x80010000
	if got := QueueClass(h, 0); got != 0x80010001 {
		t.Errorf("QueueClass(8001:, 0) = %#x, want 8001:1", got)
	}
	if got := QueueClass(h|0x5, 2); got != 0x80010003 {
		t.Errorf("QueueClass ignores the handle's minor: %#x, want 8001:3", got)
	}
	if got := TCClass(h, 2); got != 0x8001ffe2 {
		t.Errorf("TCClass(8001:, 2) = %#x, want 8001:ffe2", got)
	}
}

// TestTCMap checks the device map handed to the stack: netdev.PickTx must
// pick queues inside QueueRange for every priority.
func TestTCMap(t *testing.T) {
	m := three()
	m.Count[7], m.Offset[7] = 5, 5 // past num_tc: not installed
	got := m.TCMap()
	want := &netdev.TCMap{NumTC: 3, PrioTC: m.Map, Count: [16]uint16{1, 1, 2}, Offset: [16]uint16{0, 1, 2}}
	if *got != *want {
		t.Fatalf("TCMap() = %+v, want %+v", got, want)
	}
	for p := uint32(0); p < 16; p++ {
		off, cnt := m.QueueRange(p)
		tc := got.PrioTC[p]
		if got.Offset[tc] != off || got.Count[tc] != cnt {
			t.Errorf("priority %d: TCMap gives %d@%d, QueueRange %d@%d", p, got.Count[tc], got.Offset[tc], cnt, off)
		}
	}
}

func TestKindsAndDefaults(t *testing.T) {
	if (MQ{}).Kind() != "mq" || (MQPrio{}).Kind() != "mqprio" {
		t.Fatal("kinds")
	}
	d := Defaults()
	if d.NumTC != 8 || d.HW != 1 || d.Map != DefaultMap || d.Count != [MaxTC]uint16{} {
		t.Fatalf("Defaults() = %+v", d)
	}
	if _, ok := DefaultChild().(fifo.Pfifo); !ok {
		t.Fatalf("DefaultChild() = %T, want fifo.Pfifo", DefaultChild())
	}
}

func TestQueueRangeAllocs(t *testing.T) {
	m := three()
	var sink uint16
	if n := testing.AllocsPerRun(100, func() {
		off, cnt := m.QueueRange(7)
		sink += off + cnt
	}); n != 0 {
		t.Errorf("QueueRange allocates %v times", n)
	}
	_ = sink
}
