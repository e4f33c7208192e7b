package replay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/pkt"
	"netyard/wire"
)

// FuzzReplayInput: whatever bytes a capture file holds, replay returns an
// error or replays what it could; it never panics, hangs or leaks a buffer.
func FuzzReplayInput(f *testing.F) {
	var good bytes.Buffer
	w := pcapgo.NewWriter(&good)
	_ = w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	s := wire.FrameSpec{Proto: wire.ProtoUDP, DstPort: 53, Payload: []byte("q")}
	fr, _ := wire.AppendFrame(nil, &s)
	_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(fr), Length: len(fr)}, fr)
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:30])
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0})
	f.Add([]byte{})
	dir := f.TempDir()
	rules := filepath.Join(dir, "r.tc")
	_ = os.WriteFile(rules, []byte("filter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"), 0o644)
	f.Fuzz(func(t *testing.T, data []byte) {
		in := filepath.Join(t.TempDir(), "in.pcap")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		pool := pkt.NewPool(pkt.PoolConfig{})
		_, _ = Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Out: []Port{{"eth1", filepath.Join(t.TempDir(), "out.pcap")}}, Pool: pool})
		if n := pool.Stats().Live; n != 0 {
			t.Fatalf("%d buffers leaked", n)
		}
	})
}
