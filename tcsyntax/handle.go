package tcsyntax

import (
	"fmt"
	"strconv"
	"strings"

	"netyard/cls"
	"netyard/qdisc"
)

// Handles and protocol names, as tc/tc_util.c (get_qdisc_handle,
// get_tc_classid, print_tc_classid) and lib/ll_proto.c read and print them.

// Well-known handles (include/uapi/linux/pkt_sched.h).
const (
	// HandleClsact is TC_H_MAKE(TC_H_CLSACT, 0), "ffff:": the handle of
	// the ingress and clsact qdiscs.
	HandleClsact uint32 = 0xffff0000
)

// ParseQdiscHandle reads a qdisc handle "X:" (X hex, below 0x10000) as
// get_qdisc_handle does and returns X<<16. "none" is 0. As in tc, a minor
// after the colon is ignored ("1:2" is "1:").
func ParseQdiscHandle(s string) (uint32, error) {
	if s == "none" {
		return 0, nil
	}
	i := strings.IndexByte(s, ':')
	maj := s
	if i >= 0 {
		maj = s[:i]
	}
	v, ok := parseUint(maj, 16, 0xffff)
	if !ok {
		return 0, fmt.Errorf("%q: not a qdisc handle (expected MAJOR: with MAJOR hex, below 10000)", s)
	}
	return uint32(v) << 16, nil
}

// ParseClassID reads a class id as get_tc_classid does: "X:Y" (hex), ":Y",
// "X:" and "root" (TC_H_ROOT), "none" (0). A bare "X" is taken whole, not
// shifted, as in tc: "10" is 0x10, printed ":10".
func ParseClassID(s string) (uint32, error) {
	switch s {
	case "root":
		return qdisc.HandleRoot, nil
	case "none":
		return 0, nil
	}
	bad := fmt.Errorf("%q: not a class id (expected MAJOR:MINOR in hex, root or none)", s)
	i := strings.IndexByte(s, ':')
	if i < 0 {
		v, ok := parseUint(s, 16, 1<<32-1)
		if !ok {
			return 0, bad
		}
		return uint32(v), nil
	}
	var maj, min uint64
	ok := true
	if i > 0 {
		maj, ok = parseUint(s[:i], 16, 0xffff)
	}
	if ok && i+1 < len(s) {
		min, ok = parseUint(s[i+1:], 16, 0xffff)
	}
	if !ok {
		return 0, bad
	}
	return uint32(maj)<<16 | uint32(min), nil
}

// FormatClassID prints a handle as print_tc_classid: "root", "none",
// ":Y", "X:" or "X:Y" in hex.
func FormatClassID(h uint32) string {
	maj, min := h>>16, h&0xffff
	switch {
	case h == qdisc.HandleRoot:
		return "root"
	case h == 0:
		return "none"
	case maj == 0:
		return ":" + strconv.FormatUint(uint64(min), 16)
	case min == 0:
		return strconv.FormatUint(uint64(maj), 16) + ":"
	}
	return strconv.FormatUint(uint64(maj), 16) + ":" + strconv.FormatUint(uint64(min), 16)
}

// formatQdiscHandle prints a qdisc's own handle as tc_qdisc.c: "%x:".
func formatQdiscHandle(h uint32) string { return strconv.FormatUint(uint64(h>>16), 16) + ":" }

// llProtoNames is lib/ll_proto.c's table with the ETH_P_* values of
// include/uapi/linux/if_ether.h. Lookups by name take the first match
// ignoring case; lookups by number take the first match, so 0x0800 prints
// "ip" although "ipv4" is accepted.
var llProtoNames = []struct {
	id   uint16
	name string
}{
	{0x0060, "loop"}, {0x0200, "pup"}, {0x0201, "pupat"}, {0x0800, "ip"},
	{0x0805, "x25"}, {0x0806, "arp"}, {0x08ff, "bpq"}, {0x0a00, "ieeepup"},
	{0x0a01, "ieeepupat"}, {0x6000, "dec"}, {0x6001, "dna_dl"}, {0x6002, "dna_rc"},
	{0x6003, "dna_rt"}, {0x6004, "lat"}, {0x6005, "diag"}, {0x6006, "cust"},
	{0x6007, "sca"}, {0x8035, "rarp"}, {0x809b, "atalk"}, {0x80f3, "aarp"},
	{0x8137, "ipx"}, {0x86dd, "ipv6"}, {0x8863, "ppp_disc"}, {0x8864, "ppp_ses"},
	{0x884c, "atmmpoa"}, {0x8884, "atmfate"}, {0x0001, "802_3"}, {0x0002, "ax25"},
	{0x0003, "all"}, {0x0004, "802_2"}, {0x0005, "snap"}, {0x0006, "ddcmp"},
	{0x0007, "wan_ppp"}, {0x0008, "ppp_mp"}, {0x0009, "localtalk"}, {0x000c, "can"},
	{0x0010, "ppptalk"}, {0x0011, "tr_802_2"}, {0x0015, "mobitex"}, {0x0016, "control"},
	{0x0017, "irda"}, {0x0018, "econet"}, {0x88ca, "tipc"}, {0x8892, "profinet"},
	{0x88a2, "aoe"}, {0x88a4, "ethercat"}, {0x8100, "802.1Q"}, {0x88a8, "802.1ad"},
	{0x8847, "mpls_uc"}, {0x8848, "mpls_mc"}, {0x6558, "teb"}, {0x8902, "cfm"},
	{0x88cc, "LLDP"}, {0x0800, "ipv4"},
}

// ParseProtocol reads an EtherType as ll_proto_a2n: a name from tc's table
// in any case ("ip", "ipv6", "all", "arp", "802.1Q", "802.1q", "802.1ad")
// or a number ("0x88cc", "2048").
func ParseProtocol(s string) (uint16, error) {
	for _, p := range llProtoNames {
		if strings.EqualFold(p.name, s) {
			return p.id, nil
		}
	}
	if v, ok := getU16(s, 0); ok {
		return v, nil
	}
	return 0, fmt.Errorf("%q: not a protocol (ip, ipv6, all, arp, 802.1Q, 802.1ad, ... or a number)", s)
}

// FormatProtocol prints an EtherType as ll_proto_n2a: its name, or its
// decimal value in brackets ("[4660]").
func FormatProtocol(id uint16) string {
	for _, p := range llProtoNames {
		if p.id == id {
			return p.name
		}
	}
	return "[" + strconv.FormatUint(uint64(id), 10) + "]"
}

// filterParentName is how tc_filter.c prints a filter's parent: the
// keyword for the hooks, "parent X:Y" otherwise.
func filterParentName(parent uint32) (key string, keyword bool) {
	switch parent {
	case qdisc.HandleRoot:
		return "root", true
	case cls.ParentIngress:
		return "ingress", true
	case cls.ParentEgress:
		return "egress", true
	}
	return "parent", false
}
