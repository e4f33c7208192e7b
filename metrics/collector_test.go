package metrics

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"netyard/datapath"
	leak "netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
	"netyard/wire"
)

// rig is an engine in virtual time: devices eth0 and eth1 whose
// transmissions go to a sink, configured with tc's grammar.
type rig struct {
	t   *testing.T
	clk *datapath.ManualClock
	e   *datapath.Engine
}

// poolLimit is the rig's packet memory limit, far above what the tests
// keep live.
const poolLimit = 1 << 20

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, clk: &datapath.ManualClock{}}
	r.clk.Set(1000)
	r.e = datapath.New(datapath.Config{Workers: 1, Clock: r.clk,
		Pool:   leak.Pool(t, pkt.PoolConfig{Limit: poolLimit}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, name := range []string{"eth0", "eth1"} {
		r.addDev(r.e.Default(), name)
	}
	return r
}

func (r *rig) addDev(ns *datapath.Namespace, name string) {
	d, err := r.e.AddDevice(ns, netdev.Config{Name: name})
	if err != nil {
		r.t.Fatal(err)
	}
	d.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, _ int64) { p.Release() }))
}

// tc runs tc lines against namespace ns.
func (r *rig) tc(ns *datapath.Namespace, lines ...string) {
	r.t.Helper()
	for _, l := range lines {
		var errb strings.Builder
		if err := tcsyntax.Run(ns, strings.Fields(l), io.Discard, &errb); err != nil {
			r.t.Fatalf("tc %s: %v: %s", l, err, errb.String())
		}
	}
}

// inject puts n copies of frame on dev's receive path and runs the engine
// until it is idle.
func (r *rig) inject(dev string, frame []byte, n int) {
	r.t.Helper()
	d, err := r.e.Default().Device(dev)
	if err != nil {
		r.t.Fatal(err)
	}
	for range n {
		if err := d.Inject(frame, r.clk.Now()); err != nil {
			r.t.Fatal(err)
		}
	}
	r.e.Run()
}

func udpFrame(t *testing.T, payload int) []byte {
	t.Helper()
	s := wire.FrameSpec{Src: wire.MAC{2, 0, 0, 0, 0, 1}, Dst: wire.MAC{2, 0, 0, 0, 0, 2},
		SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"),
		Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: make([]byte, payload)}
	b, err := wire.AppendFrame(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forwarding is the rig the counter tests share: eth0's ingress redirects
// everything to eth1's egress (pfifo), eth1's ingress drops everything.
// fwd packets of fwdLen bytes go through eth0, drop of dropLen through eth1.
func forwarding(t *testing.T, fwd, drop int) (r *rig, fwdLen, dropLen int) {
	r = newRig(t)
	r.tc(r.e.Default(),
		"qdisc add dev eth0 clsact",
		"qdisc add dev eth1 root handle 1: pfifo limit 100",
		"filter add dev eth0 ingress protocol all matchall action mirred egress redirect dev eth1",
		"filter add dev eth1 ingress protocol all matchall action gact drop",
	)
	a, b := udpFrame(t, 100), udpFrame(t, 300)
	r.inject("eth0", a, fwd)
	r.inject("eth1", b, drop)
	return r, len(a), len(b)
}

// TestDeviceAndQdiscCounters: after fwd packets are redirected from eth0 to
// eth1 and drop packets are dropped at eth1's ingress, every device and
// qdisc series has the value the traffic implies.
func TestDeviceAndQdiscCounters(t *testing.T) {
	const fwd, drop = 3, 2
	r, fl, dl := forwarding(t, fwd, drop)
	c := NewCollector(r.e, Options{})

	devices := fmt.Sprintf(`
# HELP netyard_device_rx_packets_total Packets the device received from its wire.
# TYPE netyard_device_rx_packets_total counter
netyard_device_rx_packets_total{device="eth0",namespace="default"} %d
netyard_device_rx_packets_total{device="eth1",namespace="default"} %d
# HELP netyard_device_rx_bytes_total Bytes the device received from its wire.
# TYPE netyard_device_rx_bytes_total counter
netyard_device_rx_bytes_total{device="eth0",namespace="default"} %d
netyard_device_rx_bytes_total{device="eth1",namespace="default"} %d
# HELP netyard_device_tx_packets_total Packets the device transmitted on its wire.
# TYPE netyard_device_tx_packets_total counter
netyard_device_tx_packets_total{device="eth0",namespace="default"} 0
netyard_device_tx_packets_total{device="eth1",namespace="default"} %d
# HELP netyard_device_tx_bytes_total Bytes the device transmitted on its wire.
# TYPE netyard_device_tx_bytes_total counter
netyard_device_tx_bytes_total{device="eth0",namespace="default"} 0
netyard_device_tx_bytes_total{device="eth1",namespace="default"} %d
# HELP netyard_device_delivered_total Packets that passed the ingress hook to the host side.
# TYPE netyard_device_delivered_total counter
netyard_device_delivered_total{device="eth0",namespace="default"} 0
netyard_device_delivered_total{device="eth1",namespace="default"} 0
# HELP netyard_device_ingress_drops_total Packets dropped by an ingress filter verdict (TC_ACT_SHOT).
# TYPE netyard_device_ingress_drops_total counter
netyard_device_ingress_drops_total{device="eth0",namespace="default"} 0
netyard_device_ingress_drops_total{device="eth1",namespace="default"} %d
`, fwd, drop, fwd*fl, drop*dl, fwd, fwd*fl, drop)
	if err := testutil.CollectAndCompare(c, strings.NewReader(devices),
		"netyard_device_rx_packets_total", "netyard_device_rx_bytes_total",
		"netyard_device_tx_packets_total", "netyard_device_tx_bytes_total",
		"netyard_device_delivered_total", "netyard_device_ingress_drops_total"); err != nil {
		t.Error(err)
	}

	// The clsact qdiscs show their ingress hook's traffic (handle ffff:,
	// parent ffff:fff1 as tc prints them; eth1 got one with its first
	// ingress filter); eth1's pfifo what it sent. eth0's default root
	// qdisc (handle 0:) sent nothing.
	qdiscs := fmt.Sprintf(`
# HELP netyard_qdisc_packets_total Packets the qdisc sent (tc's "Sent N pkt").
# TYPE netyard_qdisc_packets_total counter
netyard_qdisc_packets_total{device="eth0",handle="0:",kind="pfifo",namespace="default",parent="root"} 0
netyard_qdisc_packets_total{device="eth0",handle="ffff:",kind="clsact",namespace="default",parent="ffff:fff1"} %d
netyard_qdisc_packets_total{device="eth1",handle="1:",kind="pfifo",namespace="default",parent="root"} %d
netyard_qdisc_packets_total{device="eth1",handle="ffff:",kind="clsact",namespace="default",parent="ffff:fff1"} %d
# HELP netyard_qdisc_bytes_total Bytes the qdisc sent (tc's "Sent N bytes").
# TYPE netyard_qdisc_bytes_total counter
netyard_qdisc_bytes_total{device="eth0",handle="0:",kind="pfifo",namespace="default",parent="root"} 0
netyard_qdisc_bytes_total{device="eth0",handle="ffff:",kind="clsact",namespace="default",parent="ffff:fff1"} %d
netyard_qdisc_bytes_total{device="eth1",handle="1:",kind="pfifo",namespace="default",parent="root"} %d
netyard_qdisc_bytes_total{device="eth1",handle="ffff:",kind="clsact",namespace="default",parent="ffff:fff1"} %d
# HELP netyard_qdisc_qlen Packets queued in the qdisc now (tc's "backlog Np", the qdisc's qlen).
# TYPE netyard_qdisc_qlen gauge
netyard_qdisc_qlen{device="eth0",handle="0:",kind="pfifo",namespace="default",parent="root"} 0
netyard_qdisc_qlen{device="eth0",handle="ffff:",kind="clsact",namespace="default",parent="ffff:fff1"} 0
netyard_qdisc_qlen{device="eth1",handle="1:",kind="pfifo",namespace="default",parent="root"} 0
netyard_qdisc_qlen{device="eth1",handle="ffff:",kind="clsact",namespace="default",parent="ffff:fff1"} 0
`, fwd, fwd, drop, fwd*fl, fwd*fl, drop*dl)
	if err := testutil.CollectAndCompare(c, strings.NewReader(qdiscs),
		"netyard_qdisc_packets_total", "netyard_qdisc_bytes_total", "netyard_qdisc_qlen"); err != nil {
		t.Error(err)
	}
}

// TestActionAndPoolCounters: the actions are summed per kind (one mirred
// that ran fwd times, one gact that dropped drop packets); the pool has no
// live buffer once the engine is idle and shows its limit.
func TestActionAndPoolCounters(t *testing.T) {
	const fwd, drop = 4, 3
	r, fl, dl := forwarding(t, fwd, drop)
	c := NewCollector(r.e, Options{})
	want := fmt.Sprintf(`
# HELP netyard_actions Actions in the namespace's action table, by kind ("tc actions ls").
# TYPE netyard_actions gauge
netyard_actions{kind="bpf",namespace="default"} 0
netyard_actions{kind="gact",namespace="default"} 1
netyard_actions{kind="mirred",namespace="default"} 1
netyard_actions{kind="police",namespace="default"} 0
netyard_actions{kind="skbedit",namespace="default"} 0
netyard_actions{kind="vlan",namespace="default"} 0
# HELP netyard_actions_packets_total All actions of the kind in the namespace: packets the action ran on.
# TYPE netyard_actions_packets_total counter
netyard_actions_packets_total{kind="bpf",namespace="default"} 0
netyard_actions_packets_total{kind="gact",namespace="default"} %d
netyard_actions_packets_total{kind="mirred",namespace="default"} %d
netyard_actions_packets_total{kind="police",namespace="default"} 0
netyard_actions_packets_total{kind="skbedit",namespace="default"} 0
netyard_actions_packets_total{kind="vlan",namespace="default"} 0
# HELP netyard_actions_bytes_total All actions of the kind in the namespace: bytes of the packets the action ran on.
# TYPE netyard_actions_bytes_total counter
netyard_actions_bytes_total{kind="bpf",namespace="default"} 0
netyard_actions_bytes_total{kind="gact",namespace="default"} %d
netyard_actions_bytes_total{kind="mirred",namespace="default"} %d
netyard_actions_bytes_total{kind="police",namespace="default"} 0
netyard_actions_bytes_total{kind="skbedit",namespace="default"} 0
netyard_actions_bytes_total{kind="vlan",namespace="default"} 0
# HELP netyard_actions_drops_total All actions of the kind in the namespace: packets the action dropped.
# TYPE netyard_actions_drops_total counter
netyard_actions_drops_total{kind="bpf",namespace="default"} 0
netyard_actions_drops_total{kind="gact",namespace="default"} %d
netyard_actions_drops_total{kind="mirred",namespace="default"} 0
netyard_actions_drops_total{kind="police",namespace="default"} 0
netyard_actions_drops_total{kind="skbedit",namespace="default"} 0
netyard_actions_drops_total{kind="vlan",namespace="default"} 0
# HELP netyard_pkt_buffers_live Packet buffers handed out and not yet released.
# TYPE netyard_pkt_buffers_live gauge
netyard_pkt_buffers_live 0
# HELP netyard_pkt_limit_bytes The packet pool's memory limit; 0 for none.
# TYPE netyard_pkt_limit_bytes gauge
netyard_pkt_limit_bytes %d
# HELP netyard_pkt_refcount_faults_total Packet buffer reference count misuses caught, by kind (the kernel's refcount_t warnings): add_on_zero and underflow are use-after-free, overflow is a leak.
# TYPE netyard_pkt_refcount_faults_total counter
netyard_pkt_refcount_faults_total{kind="add_on_zero"} 0
netyard_pkt_refcount_faults_total{kind="overflow"} 0
netyard_pkt_refcount_faults_total{kind="underflow"} 0
`, drop, fwd, drop*dl, fwd*fl, drop, poolLimit)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"netyard_actions", "netyard_actions_packets_total", "netyard_actions_bytes_total",
		"netyard_actions_drops_total", "netyard_pkt_buffers_live", "netyard_pkt_limit_bytes",
		"netyard_pkt_refcount_faults_total"); err != nil {
		t.Error(err)
	}
	// No per-action series unless asked for.
	if n := testutil.CollectAndCount(c, "netyard_action_packets_total", "netyard_action_series_dropped"); n != 0 {
		t.Errorf("%d per-action series by default, want 0", n)
	}
}

// TestLoopDrops: a two-device ingress redirect loop ends by the packet's
// TTL; the drop is on the device that tried the last redirect and on the
// namespace.
func TestLoopDrops(t *testing.T) {
	r := newRig(t)
	r.tc(r.e.Default(),
		"filter add dev eth0 ingress protocol all matchall action mirred ingress redirect dev eth1",
		"filter add dev eth1 ingress protocol all matchall action mirred ingress redirect dev eth0",
	)
	r.inject("eth0", udpFrame(t, 64), 1)
	c := NewCollector(r.e, Options{})
	// The packet enters eth0 with pkt.DefaultTTL redirects to spend; the
	// redirect after the last one is refused on the device it is on.
	last := "eth0"
	if pkt.DefaultTTL%2 == 1 {
		last = "eth1"
	}
	var b strings.Builder
	b.WriteString("# HELP netyard_device_loop_drops_total Redirects from the device refused because the packet's redirect TTL was spent.\n")
	b.WriteString("# TYPE netyard_device_loop_drops_total counter\n")
	for _, dev := range []string{"eth0", "eth1"} {
		n := 0
		if dev == last {
			n = 1
		}
		fmt.Fprintf(&b, "netyard_device_loop_drops_total{device=%q,namespace=\"default\"} %d\n", dev, n)
	}
	b.WriteString(`# HELP netyard_namespace_loop_drops_total Packets of the namespace dropped because their redirect TTL was spent (docs/LOOPS.md).
# TYPE netyard_namespace_loop_drops_total counter
netyard_namespace_loop_drops_total{namespace="default"} 1
`)
	if err := testutil.CollectAndCompare(c, strings.NewReader(b.String()),
		"netyard_device_loop_drops_total", "netyard_namespace_loop_drops_total"); err != nil {
		t.Error(err)
	}
}

// TestActionSeriesLimit: per-action series are exported for at most
// ActionSeries actions, the same ones every scrape (namespace, then kind
// in act.Kinds order, then index), and the gauge counts the rest.
func TestActionSeriesLimit(t *testing.T) {
	r := newRig(t)
	tenant, err := r.e.Namespace("tenant", true)
	if err != nil {
		t.Fatal(err)
	}
	r.addDev(tenant, "veth0")
	// default: gact 1..5, one mirred; tenant: gact 1..2.
	r.tc(r.e.Default(), "filter add dev eth0 ingress protocol all matchall action mirred egress redirect dev eth1")
	for i := 1; i <= 5; i++ {
		r.tc(r.e.Default(), fmt.Sprintf("actions add action gact drop index %d", i))
	}
	r.tc(tenant, "actions add action gact pass index 1", "actions add action gact pass index 2")
	const total = 8

	for _, tc := range []struct {
		name  string
		limit int
		// want lists the (namespace, kind, index) exported.
		want []string
	}{
		{"off", 0, nil},
		{"negative is off", -1, nil},
		{"within the first kind", 3, []string{"default/gact/1", "default/gact/2", "default/gact/3"}},
		{"across kinds", 6, []string{"default/gact/1", "default/gact/2", "default/gact/3",
			"default/gact/4", "default/gact/5", "default/mirred/1"}},
		{"across namespaces", 7, []string{"default/gact/1", "default/gact/2", "default/gact/3",
			"default/gact/4", "default/gact/5", "default/mirred/1", "tenant/gact/1"}},
		{"above the total", 100, []string{"default/gact/1", "default/gact/2", "default/gact/3",
			"default/gact/4", "default/gact/5", "default/mirred/1", "tenant/gact/1", "tenant/gact/2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector(r.e, Options{ActionSeries: tc.limit})
			got := exported(t, c)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("exported %v, want %v", got, tc.want)
			}
			// Every per-action metric has the same series.
			for _, m := range []string{"netyard_action_packets_total", "netyard_action_bytes_total",
				"netyard_action_drops_total", "netyard_action_overlimits_total"} {
				if n := testutil.CollectAndCount(c, m); n != len(tc.want) {
					t.Errorf("%s: %d series, want %d", m, n, len(tc.want))
				}
			}
			if tc.limit <= 0 {
				if n := testutil.CollectAndCount(c, "netyard_action_series_dropped"); n != 0 {
					t.Errorf("netyard_action_series_dropped exported with the opt-in off")
				}
				return
			}
			want := fmt.Sprintf(`
# HELP netyard_action_series_dropped Actions whose per-action series were left out of this scrape by the series limit (--metrics-actions).
# TYPE netyard_action_series_dropped gauge
netyard_action_series_dropped %d
`, total-len(tc.want))
			if err := testutil.CollectAndCompare(c, strings.NewReader(want), "netyard_action_series_dropped"); err != nil {
				t.Error(err)
			}
		})
	}
}

// exported lists the namespace/kind/index of c's per-action packet
// series, sorted.
func exported(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "netyard_action_packets_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out = append(out, l["namespace"]+"/"+l["kind"]+"/"+l["index"])
		}
	}
	slices.Sort(out)
	return out
}

// TestLint: every exported name, type and help text passes promlint, the
// checker of Prometheus's naming conventions (units as suffixes, _total on
// counters only, no camel case), with the per-action series on.
func TestLint(t *testing.T) {
	r, _, _ := forwarding(t, 1, 1)
	c := NewCollector(r.e, Options{ActionSeries: 10})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	// The pedantic registry checks that what Collect sends matches what
	// Describe announced.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Error(err)
	}
}

// TestListenerDrops: an 802.11 device's frame listeners and the frames
// they lost (a capture client too slow for its queue) are exported.
func TestListenerDrops(t *testing.T) {
	r := newRig(t)
	d, err := r.e.AddDevice(r.e.Default(), netdev.Config{Name: "wlan0", Link: netdev.LinkIEEE80211})
	if err != nil {
		t.Fatal(err)
	}
	// the listener's queue is always full
	if _, err := d.Listen(datapath.ListenMonitor, 0, datapath.FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) { d.ListenerDrop(p) })); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Listen(datapath.ListenKept, 0, datapath.FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) { p.Release() })); err != nil {
		t.Fatal(err)
	}
	beacon := append([]byte{0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0x10, 0}, make([]byte, 40)...)
	for i := range 5 {
		if err := d.Inject80211(beacon, nil, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	r.e.Run()
	want := `# HELP netyard_device_listener_drops_total Frames an 802.11 device's listeners lost: a capture client too slow for its queue, no buffer for a copy.
# TYPE netyard_device_listener_drops_total counter
netyard_device_listener_drops_total{device="eth0",namespace="default"} 0
netyard_device_listener_drops_total{device="eth1",namespace="default"} 0
netyard_device_listener_drops_total{device="wlan0",namespace="default"} 5
# HELP netyard_device_listeners Frame listeners attached to an 802.11 device (netyard capture sessions; at most datapath.MaxListeners).
# TYPE netyard_device_listeners gauge
netyard_device_listeners{device="eth0",namespace="default"} 0
netyard_device_listeners{device="eth1",namespace="default"} 0
netyard_device_listeners{device="wlan0",namespace="default"} 2
`
	if err := testutil.CollectAndCompare(NewCollector(r.e, Options{}), strings.NewReader(want),
		"netyard_device_listener_drops_total", "netyard_device_listeners"); err != nil {
		t.Error(err)
	}
}
