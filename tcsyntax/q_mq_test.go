package tcsyntax

import (
	"testing"

	"netyard/qdisc"
	"netyard/qdisc/fifo"
	"netyard/qdisc/mq"
)

// threeTC is "num_tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 queues 1@0 1@1
// 2@2 hw 0".
func threeTC() mq.MQPrio {
	return mq.MQPrio{NumTC: 3, Map: [16]uint8{2, 2, 1, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
		Count: [16]uint16{1, 1, 2}, Offset: [16]uint16{0, 1, 2}}
}

func init() {
	const add = "qdisc add dev eth0 root "
	addQdiscCases([]qdiscGoodCase{
		{"mq has no parameters", add + "handle 8001: mq", 0x80010000, mq.MQ{}},
		{"mqprio as the brief writes it", add + "handle 8001: mqprio num_tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 queues 1@0 1@1 2@2 hw 0",
			0x80010000, threeTC()},
		{"mqprio defaults are tc's", add + "mqprio", 0, mq.Defaults()},
		// map and queues read values until a word that is not one; map
		// entries not given are 0.
		{"mqprio short map is zero-filled", add + "mqprio num_tc 2 map 1 0 queues 2@0 2@2 hw 0", 0,
			mq.MQPrio{NumTC: 2, Map: [16]uint8{1}, Count: [16]uint16{2, 2}, Offset: [16]uint16{0, 2}}},
		{"mqprio map with no values", add + "mqprio hw 0 map", 0, mq.MQPrio{NumTC: 8}},
		{"mqprio fewer queue pairs than classes", add + "mqprio queues 0@0 4@1", 0,
			func() mq.MQPrio { m := mq.Defaults(); m.Count[1], m.Offset[1] = 4, 1; return m }()},
	}, []struct{ name, line, word, why string }{
		{"mq takes nothing", add + "mq limit 5", "limit", "mq takes no parameters"},
		{"mqprio more pairs than classes", add + "mqprio num_tc 1 queues 1@0 1@1", "queues",
			"queues count/offset pair count 2 can not be higher than given num_tc 1"},
		{"mqprio bad num_tc", add + "mqprio num_tc three", "num_tc", `illegal "num_tc"`},
		{"mqprio num_tc past 8 bits", add + "mqprio num_tc 256", "num_tc", `illegal "num_tc"`},
		{"mqprio hw needs a value", add + "mqprio hw", "hw", "needs a number"},
		// A word the value loop stops at must be a keyword.
		{"mqprio queue without offset", add + "mqprio queues 1@0 5", "5", "unknown argument; expected one of num_tc, map, queues, hw"},
		{"mqprio map entry past 8 bits", add + "mqprio map 1 2 300", "300", "unknown argument"},
		{"mqprio queue count past 16 bits", add + "mqprio queues 65536@0", "65536@0", "unknown argument"},
		{"mqprio num_tc twice", add + "mqprio num_tc 2 num_tc 3", "num_tc", "given twice"},
		{"mqprio mode", add + "mqprio num_tc 2 mode channel", "mode", "not supported"},
		{"mqprio shaper", add + "mqprio shaper bw_rlimit", "shaper", "not supported"},
		{"mqprio fp", add + "mqprio fp E P", "fp", "not supported"},
	})
}

// TestMQShow follows "tc qdisc add" to "tc qdisc show".
func TestMQShow(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "qdisc add dev eth0 root handle 8001: mqprio num_tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 queues 1@0 1@1 2@2 hw 0\n"+
		"qdisc add dev eth1 root handle 8001: mq")
	for i := range ft.qdiscs {
		ft.qdiscs[i].Refcnt = 1 // an mq root is held by the device alone
	}
	tests := []struct{ args, want string }{
		{"qdisc show dev eth0", "qdisc mqprio 8001: root tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 \n" +
			"             queues:(0:0) (1:1) (2:3) \n             mode:dcb\n             shaper:dcb\n"},
		{"-j qdisc show dev eth0", `[{"kind":"mqprio","handle":"8001:","root":true,"options":{"tc":3,"map":[2,2,1,0,2,2,2,2,2,2,2,2,2,2,2,2],` +
			`"queues":[[0,0],[1,1],[2,3]],"mode":"dcb","shaper":"dcb"}}]` + "\n"},
		{"qdisc show dev eth1", "qdisc mq 8001: root \n"},
		{"-j qdisc show dev eth1", `[{"kind":"mq","handle":"8001:","root":true,"options":{}}]` + "\n"},
	}
	for _, tc := range tests {
		if got := tcOut(t, ft, tc.args); got != tc.want {
			t.Errorf("tc %s:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

// TestMQGolden prints an mq root with its per-queue children, an mqprio,
// and their classes as the kernel lists them (mq_dump_class,
// mqprio_dump_class): queue classes with their child as leaf; for mqprio
// also one class per traffic class, parent of its queues.
func TestMQGolden(t *testing.T) {
	const h = 0x80010000
	qs := []QdiscView{
		{Spec: qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Handle: h, Params: mq.MQ{}}, Refcnt: 1,
			Stats: qdisc.Stats{Bytes: 3000, Packets: 2}},
		{Spec: qdisc.Spec{Dev: "eth0", Parent: mq.QueueClass(h, 0), Params: fifo.Pfifo{Limit: 1000}},
			Stats: qdisc.Stats{Bytes: 3000, Packets: 2}},
		{Spec: qdisc.Spec{Dev: "eth0", Parent: mq.QueueClass(h, 1), Params: fifo.Pfifo{Limit: 1000}}},
		{Spec: qdisc.Spec{Dev: "eth1", Parent: qdisc.HandleRoot, Handle: h, Params: threeTC()}, Refcnt: 1},
		// An mqprio of no traffic class (refused by Validate) still
		// prints, queue ranges as C computes them.
		{Spec: qdisc.Spec{Dev: "eth2", Parent: qdisc.HandleRoot, Handle: h,
			Params: mq.MQPrio{NumTC: 2, Count: [16]uint16{0, 3}, Offset: [16]uint16{0, 1}}}, Refcnt: 1},
	}
	golden(t, "qdisc_mq_s.txt", printQdiscs(t, Options{Stats: 1}, qs, Selector{}))
	golden(t, "qdisc_mq_j.json", printQdiscs(t, Options{JSON: true}, qs, Selector{}))

	m := threeTC()
	cs := []ClassView{
		{Dev: "eth0", Kind: "mq", Handle: mq.QueueClass(h, 0), Parent: qdisc.HandleRoot, Stats: qdisc.Stats{Bytes: 3000, Packets: 2}},
		{Dev: "eth0", Kind: "mq", Handle: mq.QueueClass(h, 1), Parent: qdisc.HandleRoot},
	}
	for tc := 0; tc < int(m.NumTC); tc++ {
		cs = append(cs, ClassView{Dev: "eth1", Kind: "mqprio", Handle: mq.TCClass(h, tc), Parent: qdisc.HandleRoot})
	}
	for q := 0; q < 4; q++ {
		cs = append(cs, ClassView{Dev: "eth1", Kind: "mqprio", Handle: mq.QueueClass(h, q), Parent: mq.TCClass(h, m.QueueTC(q)), Leaf: 0x90000 + uint32(q)<<16})
	}
	golden(t, "class_mq.txt", printClasses(t, Options{}, cs, Selector{}))
}
