// Package metrics exports netyard's counters to Prometheus: per device, per
// qdisc, per namespace, the packet pool's, and the action tables' summed by
// kind. It is what "tc -s", "ip -s link" and the kernel's
// /proc/net/softnet_stat tell an operator, as time series.
//
// The collector reads the engine when Prometheus scrapes, through the same
// calls "tc -s qdisc show" and "tc actions ls" use: the data path does no
// work for it, and no goroutine polls in the background. Counters are the
// datapath's own cumulative values, so a reset (a qdisc replaced, an
// action deleted and re-added) looks to Prometheus like a counter reset,
// which rate() handles.
//
// Actions are summed per namespace and kind by default. One series per
// action is an opt-in with a limit (Options.ActionSeries): a table of a
// million police actions would otherwise be a million series in every
// scrape, which costs Prometheus far more than it tells anyone.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"netyard/act"
	"netyard/bpf/ebpf"
	"netyard/datapath"
	"netyard/pkt"
	"netyard/tcsyntax"
)

// Options configures what the collector exports.
type Options struct {
	// ActionSeries, when > 0, exports one series per action
	// (netyard_action_*_total{namespace,kind,index}) for at most that
	// many actions per scrape, taken in namespace, kind (act.Kinds)
	// and index order so that the same ones are exported every time;
	// netyard_action_series_dropped says how many were left out. 0 (the
	// default) exports the per-kind sums only. Negative is treated as 0.
	ActionSeries int
	// BPF, when set, is the engine's eBPF loader: its programs are
	// exported per program (netyard_bpf_prog_*{namespace,id,name}).
	BPF *ebpf.Loader

	// Authority, when set, exports the refusals of the daemon's
	// authority check (docs/SECURITY.md): netyard_denied_total and,
	// per namespace, netyard_namespace_denied_total.
	Authority Authority

	// Backends, when set, exports what the devices' backends dropped
	// before the datapath saw the frames (netyard_device_backend_drops_total).
	Backends Backends
}

// Backends lists the drops of the devices' kernel backends (the daemon's
// afpacket, xdp and tap ports).
type Backends interface {
	BackendDrops() []BackendDrops
}

// BackendDrops are one device's backend drops, each drop counted once:
// Kernel in the kernel's receive ring (AF_PACKET tp_drops, AF_XDP
// rx_ring_full and rx_dropped), Shed by the afpacket port's load-shedding
// XDP program, Backend by the backend itself (no buffer, too long,
// truncated).
type BackendDrops struct {
	Namespace, Device     string
	Kernel, Shed, Backend uint64
}

// Authority is what the daemon's authority check counts.
type Authority interface {
	// Denied is every command refused, whoever sent it.
	Denied() uint64
	// DeniedOf is the commands of netns's tenants refused (a tenant of
	// two namespaces counts in both).
	DeniedOf(netns string) uint64
	// Throttled is the tenants' commands that waited for their turn
	// (the daemon's --tenant-rate).
	Throttled() uint64
}

// namespace is the prefix of every netyard metric.
const namespace = "netyard"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// counterDesc is a counter read from a snapshot of type S.
type counterDesc[S any] struct {
	desc  *prometheus.Desc
	vtype prometheus.ValueType
	value func(*S) uint64
}

var deviceLabels = []string{"namespace", "device"}

// deviceMetrics mirror datapath.Counters: the first seven are "ip -s link"'s,
// the rest are where the datapath dropped or delivered a packet.
var deviceMetrics = []counterDesc[datapath.Counters]{
	{desc("device_rx_packets_total", "Packets the device received from its wire.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.RxPackets }},
	{desc("device_rx_bytes_total", "Bytes the device received from its wire.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.RxBytes }},
	{desc("device_rx_dropped_total", "Received packets dropped before the ingress hook: RX ring full, packet memory limit, frame too large.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.RxDropped }},
	{desc("device_rx_errors_total", "Received frames dropped as malformed: shorter than an Ethernet header.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.RxErrors }},
	{desc("device_tx_packets_total", "Packets the device transmitted on its wire.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.TxPackets }},
	{desc("device_tx_bytes_total", "Bytes the device transmitted on its wire.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.TxBytes }},
	{desc("device_tx_dropped_total", "Packets dropped at transmission because the device has no wire attached.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.TxDropped }},
	{desc("device_delivered_total", "Packets that passed the ingress hook to the host side.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.Delivered }},
	{desc("device_ingress_drops_total", "Packets dropped by an ingress filter verdict (TC_ACT_SHOT).", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.IngressDrops }},
	{desc("device_egress_drops_total", "Packets dropped by an egress filter verdict (TC_ACT_SHOT).", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.EgressDrops }},
	{desc("device_backlog_drops_total", "Packets redirected to the device and dropped because its backlog or its namespace's backlog memory was full.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.BacklogDrops }},
	{desc("device_loop_drops_total", "Redirects from the device refused because the packet's redirect TTL was spent.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.LoopDrops }},
	// 802.11 devices (docs/WIFI.md): delivered are the frames the hook
	// kept, ingress drops those it rejected.
	{desc("device_radiotap_errors_total", "Capture records dropped by an 802.11 device because their radiotap header could not be read (also in rx_errors).", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.RadiotapErrors }},
	{desc("device_radiotap_unknown_total", "Capture records an 802.11 device passed with a radiotap field netyard does not know (the fields after it unread).", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.RadiotapUnknown }},
	{desc("device_listeners", "Frame listeners attached to an 802.11 device (netyard capture sessions; at most datapath.MaxListeners).", deviceLabels...),
		prometheus.GaugeValue, func(c *datapath.Counters) uint64 { return c.Listeners }},
	{desc("device_listener_drops_total", "Frames an 802.11 device's listeners lost: a capture client too slow for its queue, no buffer for a copy.", deviceLabels...),
		prometheus.CounterValue, func(c *datapath.Counters) uint64 { return c.ListenerDrops }},
}

// qdiscLabels identify a qdisc as "tc qdisc show" does: device, kind,
// "handle 1:" and "root" or "parent 1:2". handle and parent are printed in
// tc's notation so that a series can be matched with tc's output.
var qdiscLabels = []string{"namespace", "device", "kind", "handle", "parent"}

// qdiscMetrics mirror struct gnet_stats_basic and gnet_stats_queue as
// "tc -s qdisc show" prints them. For ingress and clsact, whose statistics
// are the hooks', drops are the hooks' drops (datapath.Namespace.Qdiscs).
var qdiscMetrics = []counterDesc[tcsyntax.QdiscView]{
	{desc("qdisc_bytes_total", "Bytes the qdisc sent (tc's \"Sent N bytes\").", qdiscLabels...),
		prometheus.CounterValue, func(q *tcsyntax.QdiscView) uint64 { return q.Stats.Bytes }},
	{desc("qdisc_packets_total", "Packets the qdisc sent (tc's \"Sent N pkt\").", qdiscLabels...),
		prometheus.CounterValue, func(q *tcsyntax.QdiscView) uint64 { return q.Stats.Packets }},
	{desc("qdisc_drops_total", "Packets the qdisc dropped (tc's \"dropped\").", qdiscLabels...),
		prometheus.CounterValue, func(q *tcsyntax.QdiscView) uint64 { return q.Stats.Drops }},
	{desc("qdisc_overlimits_total", "Times the qdisc held back a packet because of a rate or limit (tc's \"overlimits\").", qdiscLabels...),
		prometheus.CounterValue, func(q *tcsyntax.QdiscView) uint64 { return q.Stats.Overlimits }},
	{desc("qdisc_requeues_total", "Packets the qdisc put back at its head after a failed transmission (tc's \"requeues\").", qdiscLabels...),
		prometheus.CounterValue, func(q *tcsyntax.QdiscView) uint64 { return q.Stats.Requeues }},
	{desc("qdisc_backlog_bytes", "Bytes queued in the qdisc now (tc's \"backlog Nb\").", qdiscLabels...),
		prometheus.GaugeValue, func(q *tcsyntax.QdiscView) uint64 { return q.Stats.Backlog }},
	{desc("qdisc_qlen", "Packets queued in the qdisc now (tc's \"backlog Np\", the qdisc's qlen).", qdiscLabels...),
		prometheus.GaugeValue, func(q *tcsyntax.QdiscView) uint64 { return q.Stats.Qlen }},
}

var backendDropsDesc = desc("device_backend_drops_total",
	"Frames the device's backend dropped before the datapath saw them, by where: kernel_ring (the kernel's receive ring was full), shed (the afpacket port's load-shedding XDP program, while netyard was overloaded), backend (no buffer, too long, truncated).",
	"namespace", "device", "where")

var (
	nsLoopDropsDesc = desc("namespace_loop_drops_total",
		"Packets of the namespace dropped because their redirect TTL was spent (docs/LOOPS.md).", "namespace")
	nsBacklogDesc = desc("namespace_backlog_bytes",
		"Bytes the namespace's device backlogs hold now.", "namespace")

	// Per-tenant limits (datapath.LimitStats): the namespace label is
	// bounded by the namespaces an administrator made; threshold, reason
	// and object take three values each.
	nsPacketMemDesc = desc("namespace_packet_memory_bytes",
		"Bytes of packets the namespace holds now in its devices' backlogs and qdiscs (its packet memory).", "namespace")
	nsMemLimitDesc = desc("namespace_packet_memory_limit_bytes",
		"The namespace's packet memory thresholds (netns set ... mem MIN PRESSURE MAX); absent when none is set.", "namespace", "threshold")
	nsMemPressureDesc = desc("namespace_memory_pressure",
		"1 while the namespace is under packet memory pressure (above pressure, until below min), else 0.", "namespace")
	nsPressureEnteredDesc = desc("namespace_memory_pressure_entered_total",
		"Times the namespace entered packet memory pressure.", "namespace")
	nsMemDropsDesc = desc("namespace_memory_drops_total",
		"New packets of the namespace dropped by its packet memory limits: reason=\"pressure\" the early drops above the pressure threshold, reason=\"max\" every new packet above max.", "namespace", "reason")
	nsQuotaRefusedDesc = desc("namespace_quota_refusals_total",
		"Objects refused because the namespace's quota (netns set ... actions|filters|devices N) was reached, by object.", "namespace", "object")

	throttledDesc = desc("tenant_commands_throttled_total", "Tenants' commands that waited because their uid was over the daemon's --tenant-rate.")
	deniedDesc    = desc("denied_total", "Commands the daemon refused with \"permission denied\" (EPERM), whoever sent them.")
	nsDeniedDesc  = desc("namespace_denied_total",
		"Commands of the namespace's tenants refused with \"permission denied\" (a tenant of two namespaces counts in both).", "namespace")

	actionsDesc = desc("actions",
		"Actions in the namespace's action table, by kind (\"tc actions ls\").", "namespace", "kind")

	poolLiveDesc  = desc("pkt_buffers_live", "Packet buffers handed out and not yet released.")
	poolInUseDesc = desc("pkt_in_use_bytes", "Bytes of packet memory charged to the pool's account now.")
	poolLimitDesc = desc("pkt_limit_bytes", "The packet pool's memory limit; 0 for none.")
	poolDenied    = desc("pkt_denied_total", "Packet buffer requests refused because the memory limit was reached.")
	poolFaults    = desc("pkt_refcount_faults_total",
		"Packet buffer reference count misuses caught, by kind (the kernel's refcount_t warnings): add_on_zero and underflow are use-after-free, overflow is a leak.",
		"kind")

	bpfRunsDesc = desc("bpf_prog_runs_total",
		"Runs of a loaded eBPF program (bpftool's run_cnt, counted whether or not stats are on).", "namespace", "id", "name")
	bpfFaultsDesc = desc("bpf_prog_faults_total",
		"Runs of an eBPF program stopped by a run-time check (the packet was dropped).", "namespace", "id", "name")
	bpfRunTimeDesc = desc("bpf_prog_run_time_seconds_total",
		"Time spent in an eBPF program's runs while run time accounting was on (bpftool's run_time_ns; netyard bpf stats on).", "namespace", "id", "name")

	actionSeriesDroppedDesc = desc("action_series_dropped",
		"Actions whose per-action series were left out of this scrape by the series limit (--metrics-actions).")
)

// actionSums are the per-kind sums of every action's statistics. They are
// named netyard_actions_* (plural: over the actions of a kind) because the
// opt-in per-action series take netyard_action_*: a registry refuses one
// name with two label sets, and Prometheus's guidance is to expose either
// the parts or their sum under a name, never both.
var actionSums = actionDescs("actions", "All actions of the kind in the namespace: ", "namespace", "kind")

// actionEach are the opt-in per-action series.
var actionEach = actionDescs("action", "One action: ", "namespace", "kind", "index")

func actionDescs(prefix, help string, labels ...string) []counterDesc[tcsyntax.ActionView] {
	return []counterDesc[tcsyntax.ActionView]{
		{desc(prefix+"_packets_total", help+"packets the action ran on.", labels...),
			prometheus.CounterValue, func(a *tcsyntax.ActionView) uint64 { return a.Stats.Packets }},
		{desc(prefix+"_bytes_total", help+"bytes of the packets the action ran on.", labels...),
			prometheus.CounterValue, func(a *tcsyntax.ActionView) uint64 { return a.Stats.Bytes }},
		{desc(prefix+"_drops_total", help+"packets the action dropped.", labels...),
			prometheus.CounterValue, func(a *tcsyntax.ActionView) uint64 { return a.Stats.Drops }},
		{desc(prefix+"_overlimits_total", help+"packets over the action's limit (police exceeded, redirect refused).", labels...),
			prometheus.CounterValue, func(a *tcsyntax.ActionView) uint64 { return a.Stats.Overlimits }},
	}
}

// faultLabels names pkt's refcount faults for the kind label.
var faultLabels = [...]struct {
	name  string
	value func(*pkt.Stats) uint64
}{
	{"add_on_zero", func(s *pkt.Stats) uint64 { return s.AddOnZero }},
	{"overflow", func(s *pkt.Stats) uint64 { return s.Overflow }},
	{"underflow", func(s *pkt.Stats) uint64 { return s.Underflow }},
}

// Collector is a prometheus.Collector over an engine. It is safe for
// concurrent scrapes: it holds no state of its own.
type Collector struct {
	e    *datapath.Engine
	opts Options
}

// NewCollector returns a collector reading e at each scrape.
func NewCollector(e *datapath.Engine, opts Options) *Collector {
	opts.ActionSeries = max(opts.ActionSeries, 0)
	return &Collector{e: e, opts: opts}
}

var _ prometheus.Collector = (*Collector)(nil)

// Describe implements prometheus.Collector: every series the collector can
// export has a fixed name and label set, so the registry checks them.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range deviceMetrics {
		ch <- m.desc
	}
	for _, m := range qdiscMetrics {
		ch <- m.desc
	}
	for _, m := range actionSums {
		ch <- m.desc
	}
	if c.opts.Authority != nil {
		ch <- deniedDesc
		ch <- throttledDesc
		ch <- nsDeniedDesc
	}
	for _, d := range []*prometheus.Desc{nsLoopDropsDesc, nsBacklogDesc, actionsDesc,
		nsPacketMemDesc, nsMemLimitDesc, nsMemPressureDesc, nsPressureEnteredDesc, nsMemDropsDesc, nsQuotaRefusedDesc,
		poolLiveDesc, poolInUseDesc, poolLimitDesc, poolDenied, poolFaults} {
		ch <- d
	}
	if c.opts.Backends != nil {
		ch <- backendDropsDesc
	}
	if c.opts.BPF != nil {
		ch <- bpfRunsDesc
		ch <- bpfFaultsDesc
		ch <- bpfRunTimeDesc
	}
	if c.opts.ActionSeries > 0 {
		for _, m := range actionEach {
			ch <- m.desc
		}
		ch <- actionSeriesDroppedDesc
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectPool(ch)
	if c.opts.Backends != nil {
		for _, b := range c.opts.Backends.BackendDrops() {
			for _, w := range [...]struct {
				where string
				n     uint64
			}{{"kernel_ring", b.Kernel}, {"shed", b.Shed}, {"backend", b.Backend}} {
				ch <- prometheus.MustNewConstMetric(backendDropsDesc, prometheus.CounterValue, float64(w.n), b.Namespace, b.Device, w.where)
			}
		}
	}
	if c.opts.Authority != nil {
		ch <- prometheus.MustNewConstMetric(deniedDesc, prometheus.CounterValue, float64(c.opts.Authority.Denied()))
		ch <- prometheus.MustNewConstMetric(throttledDesc, prometheus.CounterValue, float64(c.opts.Authority.Throttled()))
	}
	budget, dropped := c.opts.ActionSeries, 0
	for _, ns := range c.e.Namespaces() {
		name := ns.Name()
		ch <- prometheus.MustNewConstMetric(nsLoopDropsDesc, prometheus.CounterValue, float64(ns.LoopDrops()), name)
		ch <- prometheus.MustNewConstMetric(nsBacklogDesc, prometheus.GaugeValue, float64(ns.BacklogBytes()), name)
		c.collectLimits(ch, ns)
		for _, d := range ns.Devices() {
			cnt := d.Counters()
			for _, m := range deviceMetrics {
				ch <- prometheus.MustNewConstMetric(m.desc, m.vtype, float64(m.value(&cnt)), name, d.Name())
			}
		}
		c.collectQdiscs(ch, ns)
		for _, kind := range act.Kinds {
			views, err := ns.Actions(kind)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(actionsDesc, err)
				continue
			}
			ch <- prometheus.MustNewConstMetric(actionsDesc, prometheus.GaugeValue, float64(len(views)), name, kind)
			var sum tcsyntax.ActionView
			for i := range views {
				s := &views[i].Stats
				sum.Stats.Packets += s.Packets
				sum.Stats.Bytes += s.Bytes
				sum.Stats.Drops += s.Drops
				sum.Stats.Overlimits += s.Overlimits
			}
			for _, m := range actionSums {
				ch <- prometheus.MustNewConstMetric(m.desc, m.vtype, float64(m.value(&sum)), name, kind)
			}
			if c.opts.ActionSeries == 0 {
				continue
			}
			n := min(budget, len(views))
			for i := range views[:n] {
				v := &views[i]
				index := strconv.FormatUint(uint64(v.Spec.Common().Index), 10)
				for _, m := range actionEach {
					ch <- prometheus.MustNewConstMetric(m.desc, m.vtype, float64(m.value(v)), name, kind, index)
				}
			}
			budget -= n
			dropped += len(views) - n
		}
	}
	if c.opts.BPF != nil {
		for _, p := range c.opts.BPF.Programs() {
			runs, faults, _ := p.Stats()
			labels := []string{p.Namespace(), strconv.FormatUint(uint64(p.ID()), 10), p.Info().Name}
			ch <- prometheus.MustNewConstMetric(bpfRunsDesc, prometheus.CounterValue, float64(runs), labels...)
			ch <- prometheus.MustNewConstMetric(bpfFaultsDesc, prometheus.CounterValue, float64(faults), labels...)
			ch <- prometheus.MustNewConstMetric(bpfRunTimeDesc, prometheus.CounterValue, float64(p.RunTime())/1e9, labels...)
		}
	}
	if c.opts.ActionSeries > 0 {
		ch <- prometheus.MustNewConstMetric(actionSeriesDroppedDesc, prometheus.GaugeValue, float64(dropped))
	}
}

func (c *Collector) collectQdiscs(ch chan<- prometheus.Metric, ns *datapath.Namespace) {
	qs, err := ns.Qdiscs("")
	if err != nil {
		ch <- prometheus.NewInvalidMetric(qdiscMetrics[0].desc, err)
		return
	}
	for i := range qs {
		q := &qs[i]
		kind := ""
		if q.Spec.Params != nil {
			kind = q.Spec.Params.Kind()
		}
		labels := []string{ns.Name(), q.Spec.Dev, kind, qdiscHandle(q.Spec.Handle), tcsyntax.FormatClassID(q.Spec.Parent)}
		for _, m := range qdiscMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.vtype, float64(m.value(q)), labels...)
		}
	}
}

// qdiscHandle prints a qdisc's own handle as tc_qdisc.c does: "%x:" (the
// default root qdisc's handle 0 is "0:").
func qdiscHandle(h uint32) string { return strconv.FormatUint(uint64(h>>16), 16) + ":" }

func (c *Collector) collectPool(ch chan<- prometheus.Metric) {
	s := c.e.Pool().Stats()
	ch <- prometheus.MustNewConstMetric(poolLiveDesc, prometheus.GaugeValue, float64(s.Live))
	ch <- prometheus.MustNewConstMetric(poolInUseDesc, prometheus.GaugeValue, float64(s.BytesInUse))
	ch <- prometheus.MustNewConstMetric(poolLimitDesc, prometheus.GaugeValue, float64(s.Limit))
	ch <- prometheus.MustNewConstMetric(poolDenied, prometheus.CounterValue, float64(s.Denied))
	for _, f := range faultLabels {
		ch <- prometheus.MustNewConstMetric(poolFaults, prometheus.CounterValue, float64(f.value(&s)), f.name)
	}
}

// collectLimits exports what "netns show -s" says of ns's limits.
func (c *Collector) collectLimits(ch chan<- prometheus.Metric, ns *datapath.Namespace) {
	name := ns.Name()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{name}, labels...)...)
	}
	ls := ns.LimitStats()
	gauge(nsPacketMemDesc, float64(ns.PacketMemory()))
	if m := ns.MemLimits(); m != (datapath.MemLimits{}) {
		gauge(nsMemLimitDesc, float64(m.Min), "min")
		gauge(nsMemLimitDesc, float64(m.Pressure), "pressure")
		gauge(nsMemLimitDesc, float64(m.Max), "max")
	}
	pressure := 0.0
	if ls.Pressure {
		pressure = 1
	}
	gauge(nsMemPressureDesc, pressure)
	counter(nsPressureEnteredDesc, ls.PressureEntered)
	counter(nsMemDropsDesc, ls.PressureDrops, "pressure")
	counter(nsMemDropsDesc, ls.MaxDrops, "max")
	counter(nsQuotaRefusedDesc, ls.ActionsRefused, "actions")
	counter(nsQuotaRefusedDesc, ls.FiltersRefused, "filters")
	counter(nsQuotaRefusedDesc, ls.DevicesRefused, "devices")
	if c.opts.Authority != nil {
		counter(nsDeniedDesc, c.opts.Authority.DeniedOf(name))
	}
}
