package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// get fetches url and returns the body, failing t unless the status is 200.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// TestHandler: the handler serves the text exposition format with the
// engine's series, the opt-in per-action ones, and the Go runtime's and
// the process's from its private registry.
func TestHandler(t *testing.T) {
	const fwd, drop = 2, 1
	r, fl, _ := forwarding(t, fwd, drop)
	srv := httptest.NewServer(Handler(r.e, Options{ActionSeries: 1}))
	defer srv.Close()
	body := get(t, srv.URL)
	for _, want := range []string{
		fmt.Sprintf(`netyard_device_rx_packets_total{device="eth0",namespace="default"} %d`, fwd),
		fmt.Sprintf(`netyard_device_tx_bytes_total{device="eth1",namespace="default"} %d`, fwd*fl),
		fmt.Sprintf(`netyard_qdisc_packets_total{device="eth1",handle="1:",kind="pfifo",namespace="default",parent="root"} %d`, fwd),
		fmt.Sprintf(`netyard_actions_packets_total{kind="mirred",namespace="default"} %d`, fwd),
		// The limit of 1 takes the first kind's (gact) only action.
		fmt.Sprintf(`netyard_action_drops_total{index="1",kind="gact",namespace="default"} %d`, drop),
		"netyard_action_series_dropped 1",
		"# TYPE netyard_pkt_denied_total counter",
		"# TYPE go_goroutines gauge",
		"# TYPE process_cpu_seconds_total counter",
		"# TYPE promhttp_metric_handler_requests_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("response lacks %q", want)
		}
	}
	if strings.Contains(body, `netyard_action_packets_total{index="1",kind="mirred"`) {
		t.Error("the mirred action is exported beyond the limit of 1")
	}
}

// TestServer: Listen refuses an unusable address at once; a started
// server answers at Path and stops when its context ends.
func TestServer(t *testing.T) {
	r, _, _ := forwarding(t, 1, 0)
	s, err := Listen("127.0.0.1:0", r.e, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr string
	}{
		{"port in use", s.Addr().String()},
		{"no port", "127.0.0.1"},
		{"port out of range", "127.0.0.1:70000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s2, err := Listen(tc.addr, r.e, Options{}); err == nil {
				s2.Close()
				t.Errorf("Listen(%q): no error", tc.addr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := s.Start(ctx)
	body := get(t, "http://"+s.Addr().String()+Path)
	if !strings.Contains(body, `netyard_device_rx_packets_total{device="eth0",namespace="default"} 1`) {
		t.Errorf("no device series at %s:\n%s", Path, body)
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("stopped with %v", err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + Path); err == nil {
		t.Error("the server still answers after its context ended")
	}
}
