package wire

// EtherTypes and IP protocol numbers netyard knows by name
// (include/uapi/linux/if_ether.h, include/uapi/linux/in.h, in6.h).
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // 802.1Q C-tag
	EtherTypeQinQ uint16 = 0x88a8 // 802.1ad S-tag
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeAll  uint16 = 0x0003 // ETH_P_ALL: tc's "protocol all"

	// EtherType802_3 and EtherType802_2 are the pseudo types the kernel
	// gives a frame whose type field is a length (< 0x0600):
	// eth_type_trans and vlan_set_encap_proto pick ETH_P_802_3 for raw
	// Novell IPX (payload starts 0xFFFF) and ETH_P_802_2 for LLC. Parse
	// does the same so that tc's "protocol 802_2" compares equal.
	EtherType802_3 uint16 = 0x0001
	EtherType802_2 uint16 = 0x0004

	// EtherTypeMinType is ETH_P_802_3_MIN: type fields below it are
	// 802.3 lengths, not EtherTypes.
	EtherTypeMinType uint16 = 0x0600

	ProtoHopOpts  uint8 = 0 // IPv6 hop-by-hop options
	ProtoICMP     uint8 = 1
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoDCCP     uint8 = 33
	ProtoRouting  uint8 = 43 // IPv6 routing header
	ProtoFragment uint8 = 44 // IPv6 fragment header
	ProtoESP      uint8 = 50
	ProtoAH       uint8 = 51
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59 // IPv6 no next header
	ProtoDstOpts  uint8 = 60 // IPv6 destination options
	ProtoSCTP     uint8 = 132
	ProtoUDPLite  uint8 = 136
)

// EthHeaderLen is the length of an untagged Ethernet II header.
const EthHeaderLen = 14

// VLANTagLen is the length of one 802.1Q/802.1ad tag.
const VLANTagLen = 4

// Fixed header lengths (RFC 791, 8200, 768, 9293, 792/4443).
const (
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60 // IHL is 4 bits of 32-bit words
	IPv6HeaderLen    = 40
	UDPHeaderLen     = 8
	TCPMinHeaderLen  = 20
	TCPMaxHeaderLen  = 60 // data offset is 4 bits of 32-bit words
	// ICMPHeaderLen is the 8 bytes icmp_rcv and icmpv6_rcv insist on
	// (sizeof(struct icmphdr), sizeof(struct icmp6hdr)): type, code,
	// checksum and the 4-byte rest of header every message has.
	ICMPHeaderLen = 8
)

// MaxFrameLen is the longest frame Parse accepts. Offsets in Headers are
// uint16; a 64 KiB frame is already larger than any MTU a netyard device
// has (no GSO super-packets on this datapath).
const MaxFrameLen = 0xffff
