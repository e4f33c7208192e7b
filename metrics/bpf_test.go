package metrics

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"netyard/bpf/ebpf"
)

// TestBPFProgramRuns: each loaded eBPF program has its run and fault
// counts (and the run time while accounting is on) as series labelled
// with its namespace, id and name; a program behind a filter that the
// packets reach runs once per packet.
func TestBPFProgramRuns(t *testing.T) {
	r := newRig(t)
	l := ebpf.NewLoader(1)
	r.e.LoadObject = l.LoadObject
	ex, _ := filepath.Abs("../examples/bpf")
	r.tc(r.e.Default(),
		"qdisc add dev eth0 clsact",
		"filter add dev eth0 ingress pref 1 bpf obj "+ex+"/flow_counter.o sec tc",
		"filter add dev eth0 ingress pref 2 bpf obj "+ex+"/dscp_classifier.o sec tc da",
	)
	const n = 5
	r.inject("eth0", udpFrame(t, 100), n)
	progs := l.Programs()
	if len(progs) != 2 {
		t.Fatalf("%d programs", len(progs))
	}
	want := ""
	for _, s := range []struct{ name, help string }{
		{"runs", "Runs of a loaded eBPF program (bpftool's run_cnt, counted whether or not stats are on)."},
		{"faults", "Runs of an eBPF program stopped by a run-time check (the packet was dropped)."},
	} {
		want += fmt.Sprintf("# HELP netyard_bpf_prog_%s_total %s\n# TYPE netyard_bpf_prog_%[1]s_total counter\n", s.name, s.help)
		for _, p := range progs {
			v := 0
			if s.name == "runs" {
				// the flow counter returns 0 (no match: the next
				// filter runs), the classifier decides
				v = n
			}
			want += fmt.Sprintf("netyard_bpf_prog_%s_total{id=\"%d\",name=\"%s\",namespace=\"default\"} %d\n", s.name, p.ID(), p.Info().Name, v)
		}
	}
	c := NewCollector(r.e, Options{BPF: l})
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "netyard_bpf_prog_runs_total", "netyard_bpf_prog_faults_total"); err != nil {
		t.Error(err)
	}
	// run time: 0 while off, more once on
	if got := testutil.ToFloat64(filterMetric(t, c, "netyard_bpf_prog_run_time_seconds_total", "flow_counter")); got != 0 {
		t.Errorf("run time with stats off: %v", got)
	}
	l.SetStats(true)
	r.inject("eth0", udpFrame(t, 100), n)
	if got := testutil.ToFloat64(filterMetric(t, c, "netyard_bpf_prog_run_time_seconds_total", "flow_counter")); got <= 0 {
		t.Errorf("run time with stats on: %v", got)
	}
}

// filterMetric is the one series of c named fq whose name label is prog.
func filterMetric(t *testing.T, c prometheus.Collector, fq, prog string) prometheus.Collector {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	c.Collect(ch)
	close(ch)
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `"`+fq+`"`) {
			continue
		}
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		for _, lp := range d.GetLabel() {
			if lp.GetName() == "name" && lp.GetValue() == prog {
				return one{m}
			}
		}
	}
	t.Fatalf("no %s{name=%q}", fq, prog)
	return nil
}

type one struct{ m prometheus.Metric }

func (o one) Describe(ch chan<- *prometheus.Desc) { ch <- o.m.Desc() }
func (o one) Collect(ch chan<- prometheus.Metric) { ch <- o.m }
