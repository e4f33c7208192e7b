package metrics

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"netyard/datapath"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
)

// fakeAuthority counts as the daemon's authority check does.
type fakeAuthority struct {
	total, throttled uint64
	of               map[string]uint64
}

func (a *fakeAuthority) Throttled() uint64 { return a.throttled }

func (a *fakeAuthority) Denied() uint64               { return a.total }
func (a *fakeAuthority) DeniedOf(netns string) uint64 { return a.of[netns] }

// scrape collects c and returns each series' value by "name{label=value,...}"
// (labels in the registry's order).
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

// TestLimitsAndDenied provokes each per-tenant limit of a namespace and
// checks that a scrape says it bit, and as often as the refusals the test
// saw: one device, one filter and one action past their quotas (each
// refused with datapath.ErrQuota), a slow link that fills the namespace's
// packet memory past its max (pressure entered, early and max drops, the
// packet memory equal to the bytes its qdiscs and backlogs report), and
// the authority's refusals. A namespace next to it shows zeros.
func TestLimitsAndDenied(t *testing.T) {
	r := newRig(t)
	ns, err := r.e.Namespace("t", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Namespace("quiet", true); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetQuotas(datapath.Quotas{Actions: 2, Filters: 1, Devices: 2}); err != nil {
		t.Fatal(err)
	}
	r.addDev(ns, "in")
	out, err := r.e.AddDevice(ns, netdev.Config{Name: "out"})
	if err != nil {
		t.Fatal(err)
	}
	out.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, _ int64) { p.Release() }))
	refused := map[string]int{}
	quota := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, datapath.ErrQuota) {
			t.Fatalf("%s: %v, want ErrQuota", what, err)
		}
		refused[what]++
	}
	_, err = r.e.AddDevice(ns, netdev.Config{Name: "third"})
	quota("devices", err)
	r.tc(ns, "qdisc add dev in clsact",
		"filter add dev in ingress protocol all matchall action mirred egress redirect dev out") // action 1 of 2
	quota("filters", tcErr(ns, "filter add dev in ingress protocol all prio 2 matchall action gact drop"))
	r.tc(ns, "actions add action gact drop index 7") // action 2 of 2
	quota("actions", tcErr(ns, "actions add action gact drop index 8"))
	quota("actions", tcErr(ns, "actions add action gact pass index 9"))

	// 1000 bytes a second: nothing leaves while the test runs.
	if err := ns.SetLinkRate("out", 1000); err != nil {
		t.Fatal(err)
	}
	frame := udpFrame(t, 200)
	fl := int64(len(frame))
	lim := datapath.MemLimits{Min: 10 * fl, Pressure: 20 * fl, Max: 40 * fl}
	if err := ns.SetMemLimits(lim); err != nil {
		t.Fatal(err)
	}
	in, _ := ns.Device("in")
	for range 20 {
		for range 16 {
			_ = in.Inject(frame, r.clk.Now())
		}
		r.e.Run()
	}
	auth := &fakeAuthority{total: 5, throttled: 11, of: map[string]uint64{"t": 3}}
	got := scrape(t, NewCollector(r.e, Options{Authority: auth}))
	ls := ns.LimitStats()
	if ls.PressureEntered == 0 || ls.PressureDrops == 0 || ls.MaxDrops == 0 || !ls.Pressure {
		t.Fatalf("the memory limits did not all bite: %+v (memory %d)", ls, ns.PacketMemory())
	}
	// The namespace's packet memory by another road: its qdiscs' and
	// backlogs' bytes as the same scrape reports them.
	var held float64
	for k, v := range got {
		if strings.HasPrefix(k, "netyard_qdisc_backlog_bytes{") && strings.Contains(k, "namespace=t,") {
			held += v
		}
	}
	held += got["netyard_namespace_backlog_bytes{namespace=t}"]
	if held < float64(lim.Max) {
		t.Errorf("qdiscs and backlogs hold %v bytes, want >= max %d", held, lim.Max)
	}
	want := map[string]float64{
		"netyard_namespace_packet_memory_bytes{namespace=t}":                     held,
		"netyard_namespace_packet_memory_limit_bytes{namespace=t,threshold=min}": float64(lim.Min),
		"netyard_namespace_packet_memory_limit_bytes{namespace=t,threshold=max}": float64(lim.Max),
		"netyard_namespace_memory_pressure{namespace=t}":                         1,
		"netyard_namespace_memory_pressure_entered_total{namespace=t}":           float64(ls.PressureEntered),
		"netyard_namespace_memory_drops_total{namespace=t,reason=pressure}":      float64(ls.PressureDrops),
		"netyard_namespace_memory_drops_total{namespace=t,reason=max}":           float64(ls.MaxDrops),
		"netyard_denied_total{}":                                 5,
		"netyard_tenant_commands_throttled_total{}":              11,
		"netyard_namespace_denied_total{namespace=t}":            3,
		"netyard_namespace_denied_total{namespace=quiet}":        0,
		"netyard_namespace_memory_pressure{namespace=quiet}":     0,
		"netyard_namespace_packet_memory_bytes{namespace=quiet}": 0,
	}
	for _, o := range []string{"actions", "filters", "devices"} {
		want[fmt.Sprintf("netyard_namespace_quota_refusals_total{namespace=t,object=%s}", o)] = float64(refused[o])
		want[fmt.Sprintf("netyard_namespace_quota_refusals_total{namespace=quiet,object=%s}", o)] = 0
	}
	for _, reason := range []string{"pressure", "max"} {
		want["netyard_namespace_memory_drops_total{namespace=quiet,reason="+reason+"}"] = 0
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["netyard_namespace_packet_memory_limit_bytes{namespace=quiet,threshold=max}"]; ok {
		t.Error("a namespace without thresholds exports them")
	}
	// Without an authority (the lab), no denied series.
	for k := range scrape(t, NewCollector(r.e, Options{})) {
		if strings.Contains(k, "denied_total") && !strings.HasPrefix(k, "netyard_pkt_") {
			t.Errorf("%s exported without an authority", k)
		}
	}
	if err := r.e.DelNamespace("t", true, nil); err != nil {
		t.Fatal(err)
	}
}

// tcErr runs one tc line against ns and returns its error.
func tcErr(ns *datapath.Namespace, line string) error {
	var b strings.Builder
	err := tcsyntax.Run(ns, strings.Fields(line), io.Discard, &b)
	if err != nil {
		return fmt.Errorf("%w: %s", err, b.String())
	}
	return nil
}

// fakeBackends reports fixed backend drops.
type fakeBackends []BackendDrops

func (f fakeBackends) BackendDrops() []BackendDrops { return f }

// TestBackendDrops: each device's backend drops are one series per place,
// each drop in exactly one of them (dev show's RX dropped is their sum
// plus the datapath's own).
func TestBackendDrops(t *testing.T) {
	r := newRig(t)
	got := scrape(t, NewCollector(r.e, Options{Backends: fakeBackends{
		{Namespace: "default", Device: "a", Kernel: 3, Shed: 1000, Backend: 2},
		{Namespace: "t1", Device: "b"},
	}}))
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{`netyard_device_backend_drops_total{device=a,namespace=default,where=kernel_ring}`, 3},
		{`netyard_device_backend_drops_total{device=a,namespace=default,where=shed}`, 1000},
		{`netyard_device_backend_drops_total{device=a,namespace=default,where=backend}`, 2},
		{`netyard_device_backend_drops_total{device=b,namespace=t1,where=shed}`, 0},
	} {
		if v, ok := got[tc.series]; !ok || v != tc.want {
			t.Errorf("%s = %v (exported %v), want %v", tc.series, v, ok, tc.want)
		}
	}
	if _, ok := scrape(t, NewCollector(r.e, Options{}))[`netyard_device_backend_drops_total{device=a,namespace=default,where=shed}`]; ok {
		t.Error("backend drops exported without Options.Backends")
	}
}
