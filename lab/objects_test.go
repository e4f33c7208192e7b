package lab

import (
	"bytes"
	"os"
	"testing"
)

// TestWifiMonitorCopy: the object the airtime scenario embeds is
// examples/bpf/wifi_monitor.o as build.sh built it.
func TestWifiMonitorCopy(t *testing.T) {
	want, err := os.ReadFile("../examples/bpf/wifi_monitor.o")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wifiMonitorObj, want) {
		t.Error("lab/objects/wifi_monitor.o differs from examples/bpf/wifi_monitor.o: run examples/bpf/build.sh")
	}
}
