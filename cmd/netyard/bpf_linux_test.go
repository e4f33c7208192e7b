package main

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"netyard/internal/testutil"
)

// TestBPFLive: the flow counter and the sampler at a device's ingress in
// a daemon forwarding between two veths; ping is the oracle: its 3 echo
// requests are one flow of 3 packets of 98 bytes in the flows map, and
// the sampler's ring buffer streams one record per packet to
// `netyard bpf map event_pipe` (text and -j), each with the frame's
// length, device and first bytes.
func TestBPFLive(t *testing.T) {
	testutil.NeedRoot(t, "network namespaces and veth pairs")
	testutil.NeedTools(t, "ip", "ping")
	a, m, b := threeHosts(t, "10.97.0", "")
	// static neighbours: no ARP through the programs, only the pings
	macB := linkMAC(t, b, "nyvb")
	macA := linkMAC(t, a, "nyva")
	a.IP("neigh", "add", "10.97.0.2", "lladdr", macB, "dev", "nyva")
	b.IP("neigh", "add", "10.97.0.1", "lladdr", macA, "dev", "nyvb")
	ex, _ := filepath.Abs("../../examples/bpf")
	sock := startDaemonIn(t, m, 1, `dev add a type afpacket link nyma
dev add b type afpacket link nymb
qdisc add dev a clsact
qdisc add dev b clsact
filter add dev a ingress pref 1 protocol ip bpf obj `+ex+`/flow_counter.o sec tc
filter add dev a ingress pref 2 protocol ip bpf obj `+ex+`/sampler.o sec tc
filter add dev a ingress pref 20 matchall action mirred egress redirect dev b
filter add dev b ingress pref 20 matchall action mirred egress redirect dev a
`)
	bpf := mustCLI(t, sock, "bpf")
	a.Exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.97.0.2")

	// the flow: 10.97.0.1 -> 10.97.0.2, ICMP, family 4
	key := make([]byte, 40)
	copy(key, net.IPv4(10, 97, 0, 1).To4())
	copy(key[16:], net.IPv4(10, 97, 0, 2).To4())
	key[36], key[37] = 1, 4
	args := []string{"-j", "map", "lookup", "name", "flows", "key"}
	for _, c := range key {
		args = append(args, strconv.Itoa(int(c)))
	}
	var e struct{ Key, Value []string }
	if err := json.Unmarshal([]byte(bpf(args...)), &e); err != nil {
		t.Fatal(err)
	}
	v := bytesOf(t, e.Value)
	if p, by := binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:]); p != 3 || by != 3*98 {
		t.Errorf("flows[ping's flow] = %d packets %d bytes, want 3 and %d", p, by, 3*98)
	}

	// the sampler: every packet (N 0) a record; stream 2 as text, 1 as JSON
	txt := bpf("map", "event_pipe", "name", "samples", "count", "2")
	if n := strings.Count(txt, "== record "); n != 2 || !strings.Contains(txt, "== record 1 (144 bytes) ==\n62 00 00 00 ") {
		t.Errorf("event_pipe count 2: %d records:\n%s", n, txt)
	}
	var r struct {
		Index int
		Size  int
		Data  []string
	}
	if err := json.Unmarshal([]byte(bpf("-j", "ringbuf", "read", "name", "samples", "count", "1")), &r); err != nil {
		t.Fatal(err)
	}
	d := bytesOf(t, r.Data)
	if r.Size != 144 || binary.LittleEndian.Uint32(d) != 98 || binary.LittleEndian.Uint32(d[8:]) != 98 ||
		binary.LittleEndian.Uint32(d[12:]) != 2 || net.IP(d[16+14+12:16+14+16]).String() != "10.97.0.1" {
		t.Errorf("third sample: %+v", r)
	}
}

func bytesOf(t *testing.T, words []string) []byte {
	t.Helper()
	b := make([]byte, len(words))
	for i, w := range words {
		v, err := strconv.ParseUint(w, 0, 8)
		if err != nil {
			t.Fatal(err)
		}
		b[i] = byte(v)
	}
	return b
}
