// Package dot11test holds the oracles the 802.11 tests share: gopacket's
// layers.Dot11 and tshark reading a pcap of link type 105
// (LINKTYPE_IEEE802_11, frames without radiotap).
package dot11test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/internal/testutil"
)

// Gopacket decodes frame (which must end in an FCS: gopacket's Dot11
// always takes the last four bytes for one) and fails tb when gopacket
// reports an error layer or a wrong checksum. It returns the Dot11 layer.
func Gopacket(tb testing.TB, frame []byte) *layers.Dot11 {
	tb.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeDot11, gopacket.NoCopy)
	if e := p.ErrorLayer(); e != nil {
		tb.Errorf("gopacket: %v in % x", e.Error(), frame)
	}
	d, _ := p.Layer(layers.LayerTypeDot11).(*layers.Dot11)
	if d == nil {
		tb.Fatalf("gopacket: no Dot11 layer in % x", frame)
	}
	if !d.ChecksumValid() {
		tb.Errorf("gopacket: FCS %#08x does not match % x", d.Checksum, frame)
	}
	return d
}

// ReadRadiotap reads a radiotap capture (link type 127) with gopacket:
// each record's radiotap layer and its 802.11 bytes (after the header's
// length). It fails tb on another link type or a record gopacket cannot
// decode.
func ReadRadiotap(tb testing.TB, path string) (rts []*layers.RadioTap, frames [][]byte) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeIEEE80211Radio {
		tb.Fatalf("%s: link type %v, want radiotap", path, r.LinkType())
	}
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		var rt layers.RadioTap
		if err := rt.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			tb.Fatalf("%s: record %d: gopacket: %v", path, len(rts)+1, err)
		}
		rts = append(rts, &rt)
		frames = append(frames, data[rt.Length:])
	}
	return rts, frames
}

// WritePcap writes frames to path as a pcap of link type 105, one
// millisecond apart.
func WritePcap(tb testing.TB, path string, frames [][]byte) {
	tb.Helper()
	WritePcapLink(tb, path, layers.LinkTypeIEEE802_11, frames)
}

// WritePcapLink writes records of link type lt to path, one millisecond
// apart.
func WritePcapLink(tb testing.TB, path string, lt layers.LinkType, frames [][]byte) {
	tb.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, lt); err != nil {
		tb.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// Decoded is what tshark said of one frame.
type Decoded struct {
	TypeSubtype int      // wlan.fc.type_subtype
	Fields      []string // the extra fields asked for, in order
	Expert      string   // expert messages of severity warning or error
	FCSGood     bool     // wlan.fcs.status is good (frames with an FCS)
}

// Tshark writes frames to a pcap and has tshark dissect it (with the FCS
// checked when fcs is true), failing tb for every frame that tshark finds
// malformed or marks with an expert warning or error. extra names more
// fields to print (wlan.ssid, wlan.seq, ...); their values come back in
// Decoded.Fields. It needs tshark (NeedTools: a skip outside CI).
func Tshark(tb testing.TB, frames [][]byte, fcs bool, extra ...string) []Decoded {
	tb.Helper()
	testutil.NeedTools(tb, "tshark")
	path := filepath.Join(tb.TempDir(), "frames.pcap")
	WritePcap(tb, path, frames)
	fields := append([]string{"frame.number", "wlan.fc.type_subtype", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message", "wlan.fcs.status"}, extra...)
	args := []string{"-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|"}
	if fcs {
		args = append(args, "-o", "wlan.check_fcs:TRUE", "-o", "wlan.check_checksum:TRUE")
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(frames) {
		tb.Fatalf("tshark printed %d frames, want %d", len(lines), len(frames))
	}
	res := make([]Decoded, len(lines))
	for i, line := range lines {
		col := strings.Split(line, "\t")
		for len(col) < len(fields) {
			col = append(col, "")
		}
		d := &res[i]
		ts, err := strconv.ParseInt(col[1], 0, 32)
		if err != nil {
			tb.Errorf("frame %d: tshark type_subtype %q", i+1, col[1])
		}
		d.TypeSubtype = int(ts)
		d.Fields = col[6:]
		d.FCSGood = col[5] == "1"
		sev, msg := strings.Split(col[3], "|"), strings.Split(col[4], "|")
		for j, s := range sev {
			v, _ := strconv.ParseInt(s, 0, 64)
			if v >= 0x00600000 { // PI_WARN and PI_ERROR (epan/proto.h)
				m := ""
				if j < len(msg) {
					m = msg[j]
				}
				d.Expert += fmt.Sprintf("[%s] ", m)
			}
		}
		if col[2] != "" {
			d.Expert += "[malformed] "
		}
		if d.Expert != "" {
			tb.Errorf("frame %d (% x): tshark: %s", i+1, frames[i], d.Expert)
		}
		if fcs && !d.FCSGood {
			tb.Errorf("frame %d: tshark: FCS status %q", i+1, col[5])
		}
	}
	return res
}
