package tcsyntax

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"netyard/act"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
)

// tcErr runs one tc invocation that must fail and returns its error and
// what it reported on stderr.
func tcErr(t *testing.T, ft *fakeTarget, args string) (error, string) {
	t.Helper()
	var out, errs bytes.Buffer
	err := Run(ft, strings.Fields(args), &out, &errs)
	if err == nil {
		t.Fatalf("tc %s succeeded, printed %q", args, out.String())
	}
	if out.Len() != 0 {
		t.Errorf("tc %s failed but printed %q", args, out.String())
	}
	return err, errs.String()
}

// TestExecTargetErrors checks that Target errors come back naming the
// command, wrapped so that errors.Is finds ErrExists and ErrNotFound, and
// are reported on stderr.
func TestExecTargetErrors(t *testing.T) {
	ft := newFake()
	runLines(t, ft, `
qdisc add dev eth0 root pfifo
filter add dev eth0 ingress matchall action drop index 3
`)
	for _, tc := range execErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			err, stderr := tcErr(t, ft, tc.args)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("tc %s: %v is not %v", tc.args, err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("tc %s: %q does not say %q", tc.args, err, tc.says)
			}
			want := "Error: " + err.Error() + "\n"
			if strings.HasPrefix(tc.args, "filter") || strings.HasPrefix(tc.args, "actions") {
				want += "We have an error talking to the kernel\n"
			}
			if stderr != want {
				t.Errorf("tc %s: stderr %q, want %q", tc.args, stderr, want)
			}
			if got := ExitStatus(err); got != tc.status {
				t.Errorf("tc %s: exit status %d, want %d", tc.args, got, tc.status)
			}
		})
	}
}

// execErrorCases fail in the Target, after parsing.
var execErrorCases = []struct {
	name, args string
	is         error
	says       string
	// status is tc's exit status: 2 for a refused qdisc, class or
	// filter command (rtnl_talk failed), 255 for a refused action
	// command (m_action.c returns -1).
	status int
}{
	{"add existing qdisc", "qdisc add dev eth0 root bfifo", ErrExists, "qdisc add: ", 2},
	{"change missing qdisc", "qdisc change dev eth1 root pfifo", ErrNotFound, "qdisc change: ", 2},
	{"delete missing qdisc", "qdisc del dev eth0 ingress", ErrNotFound, "qdisc delete: ", 2},
	{"delete with the wrong kind", "qdisc del dev eth0 root bfifo", nil, "the qdisc at root is pfifo, not bfifo", 2},
	{"add existing filter", "filter add dev eth0 ingress pref 49152 handle 1 matchall", ErrExists, "filter add: ", 2},
	{"get missing filter", "filter get dev eth0 ingress protocol all pref 1 handle 1 matchall", ErrNotFound, "matchall filter pref 1 protocol all handle 0x1 on eth0 ingress", 2},
	{"get filter of another kind", "filter get dev eth0 ingress protocol all pref 49152 handle 1 flower", ErrNotFound, "filter get: ", 2},
	{"add existing action", "actions add action pass index 3", ErrExists, "actions add: ", 255},
	{"delete bound action", "actions del action gact index 3", nil, "bound to a filter", 255},
	{"get missing action", "actions get action mirred index 1", ErrNotFound, "actions get: ", 255},
	{"share a missing action", "filter add dev eth0 egress matchall action police index 9", ErrNotFound, "filter add: ", 2},
}

// TestExecChanges follows a configuration through add, replace, change,
// delete and flush and checks the Target's state after each.
func TestExecChanges(t *testing.T) {
	ft := newFake()
	runLines(t, ft, `
qdisc add dev eth0 root pfifo
qdisc replace dev eth0 root handle 2: bfifo limit 3000
qdisc change dev eth0 root bfifo limit 4000
actions add action drop action pass
actions change action reclassify index 2
filter add dev eth0 ingress matchall action gact index 1
filter add dev eth0 ingress matchall action mirred egress redirect dev eth1
filter del dev eth0 ingress pref 49151
actions flush action gact
`)
	q, _ := ft.Qdiscs("eth0")
	if len(q) != 1 || q[0].Spec.Params != (fifo.Bfifo{Limit: 4000}) || q[0].Spec.Handle != 0x20000 {
		t.Errorf("qdiscs = %+v, want one bfifo 2: limit 4000", q)
	}
	// The flush removed the unbound gact 2 (replaced by reclassify), not
	// gact 1, which the remaining filter holds.
	views, _ := ft.Actions("gact")
	if len(views) != 1 || views[0].Spec.Common().Index != 1 || views[0].Refs != 2 || views[0].Binds != 1 {
		t.Errorf("gact table = %+v, want index 1 ref 2 bind 1", views)
	}
	if len(ft.actions["mirred"]) != 0 {
		t.Errorf("the deleted filter's own mirred action is still there")
	}
	f, _ := ft.Filters("eth0", 0xfffffff2, nil)
	if len(f) != 1 || f[0].Spec.Prio != 49152 {
		t.Errorf("filters = %+v, want the one at pref 49152", f)
	}
	runLines(t, ft, "qdisc del dev eth0 root bfifo\nfilter del dev eth0 ingress")
	if q, _ := ft.Qdiscs(""); len(q) != 0 {
		t.Errorf("qdiscs after del = %+v", q)
	}
	if f, _ := ft.Filters("eth0", 0xfffffff2, nil); len(f) != 0 {
		t.Errorf("filters after del = %+v", f)
	}
}

// TestActionsSince checks "since": only the actions used (or, never used,
// installed) in the last N milliseconds are listed.
func TestActionsSince(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "actions add action drop index 1\nactions add action pass index 2\nactions add action pipe index 3")
	ft.actions["gact"][1].stats.LastUsed = ft.now - 500e6   // 0.5 s ago
	ft.actions["gact"][2].stats.LastUsed = ft.now - 5e9     // 5 s ago
	ft.actions["gact"][3].stats.Installed = ft.now - 1500e6 // never used
	got := tcOut(t, ft, "actions ls action gact since 2000")
	if !strings.Contains(got, "total acts 2") || !strings.Contains(got, "index 1 ") ||
		!strings.Contains(got, "index 3 ") || strings.Contains(got, "index 2 ") {
		t.Errorf("since 2000:\n%s", got)
	}
}

// TestQdiscShowIngress checks "tc qdisc show dev D ingress": only the
// ingress/clsact qdisc.
func TestQdiscShowIngress(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "qdisc add dev eth0 root pfifo\nqdisc add dev eth0 clsact")
	if got, want := tcOut(t, ft, "qdisc show dev eth0 ingress"), "qdisc clsact ffff: parent ffff:fff1 \n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestClassShow prints classes of a Target that has them and nothing for
// one without.
func TestClassShow(t *testing.T) {
	ft := newFake()
	ft.classes = []ClassView{
		{Dev: "eth0", Kind: "prio", Handle: 0x10001, Parent: 0x10000, Leaf: 0x100000,
			Stats: qdisc.Stats{Bytes: 1500, Packets: 1, Backlog: 64, Qlen: 1}},
		{Dev: "eth0", Kind: "prio", Handle: 0x10002, Parent: 0x10000},
		{Dev: "eth1", Kind: "mq", Handle: 0x10001, Parent: qdisc.HandleRoot,
			Extra: []Field{{"flows", uint32(3)}, {"mode", "rr"}}},
	}
	tests := []struct{ args, want string }{
		{"class show dev eth0", "class prio 1:1 parent 1: leaf 10: \nclass prio 1:2 parent 1: \n"},
		{"class show dev eth0 classid 1:2", "class prio 1:2 parent 1: \n"},
		{"-s class show dev eth0 classid 1:1", "class prio 1:1 parent 1: leaf 10: \n Sent 1500 bytes 1 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 64b 1p requeues 0\n"},
		{"-s class show dev eth1 root", "class mq 1:1 root \n Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 0b 0p requeues 0\n  flows 3 mode rr\n"},
		{"-j -s class show dev eth1", `[{"class":"mq","handle":"1:1","root":true,"bytes":0,"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0,"flows":3,"mode":"rr"}]` + "\n"},
	}
	for _, tc := range tests {
		if got := tcOut(t, ft, tc.args); got != tc.want {
			t.Errorf("tc %s:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
	// A Target without classes: tc prints nothing.
	var out bytes.Buffer
	if err := Exec(noClasses{ft}, &Command{Object: ObjClass, Verb: VerbShow, Select: Selector{Dev: "eth0"}}, Options{}, &out); err != nil || out.Len() != 0 {
		t.Errorf("class show without ClassLister = %q, %v", out.String(), err)
	}
}

// noClasses hides the fake's ClassLister.
type noClasses struct{ Target }

// TestRunOptions covers the global options and the usage text.
func TestRunOptions(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "qdisc add dev eth0 root pfifo limit 5")
	if got := tcOut(t, ft, "-stat -det -j -pretty qd sh dev eth0"); !strings.HasPrefix(got, "[ {\n        \"kind\": \"pfifo\"") || !strings.Contains(got, `"bytes": 0`) {
		t.Errorf("abbreviated options: %q", got)
	}
	for _, args := range []string{"", "-help", "-h"} {
		if got := tcOut(t, ft, args); !strings.HasPrefix(got, "Usage:") {
			t.Errorf("tc %s = %q, want the usage", args, got)
		}
	}
	for _, tc := range []struct{ args, says string }{
		{"-x qdisc show", `"-x": option is unknown`},
		{"-n foo qdisc show", "this target has one namespace"},
		{"-n -x qdisc show", "namespace name"},
		{"-b", `"-b": needs a file name`},
		{"-b - qdisc show", "a batch takes no command"},
		{"-V", "not supported"},
	} {
		err, _ := tcErr(t, ft, tc.args)
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("tc %s: %q does not say %q", tc.args, err, tc.says)
		}
	}
}

// TestExecWritesBack checks that what the Target chooses (priority,
// handle, action index) is written back into the command's specs, as
// the Target contract says, so a caller can report it.
func TestExecWritesBack(t *testing.T) {
	ft := newFake()
	cmd, err := Parse(strings.Fields("filter add dev eth0 ingress matchall action drop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Exec(ft, cmd, Options{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if cmd.Filter.Prio != 49152 || cmd.Filter.Handle != 1 || cmd.Filter.Actions[0].(*act.Gact).C.Index != 1 {
		t.Errorf("filter after add: prio %d handle %d action index %d", cmd.Filter.Prio, cmd.Filter.Handle, cmd.Filter.Actions[0].Common().Index)
	}
}
