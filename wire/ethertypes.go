package wire

// EtherTypes and IP protocol numbers netyard knows by name
// (include/uapi/linux/if_ether.h, include/uapi/linux/in.h).
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100 // 802.1Q C-tag
	EtherTypeQinQ uint16 = 0x88a8 // 802.1ad S-tag
	EtherTypeIPv6 uint16 = 0x86dd
	EtherTypeAll  uint16 = 0x0003 // ETH_P_ALL: tc's "protocol all"

	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// EthHeaderLen is the length of an untagged Ethernet II header.
const EthHeaderLen = 14

// VLANTagLen is the length of one 802.1Q/802.1ad tag.
const VLANTagLen = 4
