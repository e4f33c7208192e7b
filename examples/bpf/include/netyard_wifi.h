/* netyard's 802.11 receive hook (docs/WIFI.md): the context a BPF program
 * gets at an 802.11 device's ingress, in place of a radiotap header.
 *
 * A program in a section whose name starts with "netyard/wifi" is loaded
 * with r1 = struct netyard_wifi_md * (programs in other sections get the
 * usual struct __sk_buff, whose data is the same 802.11 frame):
 *
 *   SEC("netyard/wifi")
 *   int probes(struct netyard_wifi_md *ctx) { ... return TC_ACT_SHOT; }
 *
 *   dev add wlan0 type memory link ieee80211
 *   tc filter add dev wlan0 ingress bpf da obj probes.o sec netyard/wifi
 *
 * The frame at data..data_end is the 802.11 MAC header and body as it came
 * off the air (no radiotap; the FCS at its end when NETYARD_WIFI_F_FCS is
 * in flags). What the receiver knew about it is in the fields below; each
 * is valid when its NETYARD_WIFI_HAS_* bit is in present (else 0).
 *
 * Keeping a frame. The ingress verdict decides whether the frame reaches
 * the device's capture listeners (netyard capture, replay --capture):
 *   direct-action:  TC_ACT_OK keeps the frame; TC_ACT_SHOT rejects it
 *                   (counted as the filter's and the device's drop, nothing
 *                   is built or copied); TC_ACT_UNSPEC goes on with the
 *                   next filter; when no filter decides, the frame is kept
 *                   (tc's default for ingress: pass).
 *   classic/non-da: 0 is no match; a match runs the filter's actions
 *                   (action pass keeps, action drop rejects), as cls_bpf.
 * keep_len (writable) cuts what a listener gets to its first keep_len
 * bytes (0: the whole frame); a listener's own snap length cuts further.
 * A kept frame gets a radiotap header built from these fields only then.
 *
 * Maps and ring buffers are those of tc programs (bpf_helpers.h): BTF maps
 * in SEC(".maps"), LIBBPF_PIN_BY_NAME to share one by name within the
 * namespace, read from outside with `netyard bpf map dump name M` and
 * `netyard bpf map event_pipe name RB`, from Go with
 * ebpf.Loader.PinnedMaps(ns) / Program.Maps(). bpf_skb_load_bytes,
 * bpf_perf_event_output and bpf_tail_call take this context as their ctx.
 */
#ifndef NETYARD_WIFI_H
#define NETYARD_WIFI_H

#include "bpf_helpers.h"

#define NETYARD_WIFI_SEC "netyard/wifi"

struct netyard_wifi_md {
	__u32 data;        /*  0: start of the 802.11 header (packet pointer) */
	__u32 data_end;    /*  4: end of the frame (packet pointer) */
	__u32 len;         /*  8: frame length in bytes (FCS included when present) */
	__u32 ifindex;     /* 12: the device whose hook runs */
	__u32 present;     /* 16: NETYARD_WIFI_HAS_* (radiotap's present bit numbers) */
	__u32 flags;       /* 20: radiotap Flags (NETYARD_WIFI_F_*) */
	__s32 signal;      /* 24: antenna signal, dBm */
	__s32 noise;       /* 28: antenna noise, dBm */
	__u32 rate;        /* 32: data rate, kbit/s: the legacy rate, or HT MCS /
	                    *     VHT rate from index, width, GI and streams; 0 unknown */
	__u32 freq;        /* 36: channel centre frequency, MHz */
	__u32 chan_flags;  /* 40: radiotap channel flags (NETYARD_WIFI_CHAN_*) */
	__u32 band;        /* 44: NETYARD_WIFI_BAND_*, from freq */
	__u32 antenna;     /* 48: antenna index */
	__u32 mcs;         /* 52: radiotap MCS: known | flags << 8 | index << 16 */
	__u32 vht;         /* 56: radiotap VHT: known | flags << 16 | bandwidth << 24 */
	__u32 vht_mcs_nss; /* 60: radiotap VHT mcs_nss[0..3], user 0 in the low byte */
	__u64 tsft;        /* 64: radiotap TSFT, microseconds (MAC time of the first bit) */
	__u64 tstamp;      /* 72: arrival time, ns (virtual time in replay and the lab) */
	__u32 mark;        /* 80: the packet's mark; read, write */
	__u32 keep_len;    /* 84: bytes a listener gets if kept, 0 all; read, write */
};                         /* 88 bytes; any other offset is a fault. Two
                            * neighbouring 4-byte fields may be read, and
                            * mark with keep_len written, in one 8-byte
                            * access (clang merges adjacent accesses). */
_Static_assert(sizeof(struct netyard_wifi_md) == 88, "netyard_wifi_md layout");

/* present: which fields are valid (radiotap present bit numbers). */
#define NETYARD_WIFI_HAS_TSFT     (1U << 0)
#define NETYARD_WIFI_HAS_FLAGS    (1U << 1)
#define NETYARD_WIFI_HAS_RATE     (1U << 2)
#define NETYARD_WIFI_HAS_CHANNEL  (1U << 3)
#define NETYARD_WIFI_HAS_SIGNAL   (1U << 5)
#define NETYARD_WIFI_HAS_NOISE    (1U << 6)
#define NETYARD_WIFI_HAS_ANTENNA  (1U << 11)
#define NETYARD_WIFI_HAS_MCS      (1U << 19)
#define NETYARD_WIFI_HAS_VHT      (1U << 21)

/* flags: radiotap's Flags field (IEEE80211_RADIOTAP_F_*). */
#define NETYARD_WIFI_F_CFP        0x01
#define NETYARD_WIFI_F_SHORTPRE   0x02
#define NETYARD_WIFI_F_WEP        0x04
#define NETYARD_WIFI_F_FRAG       0x08
#define NETYARD_WIFI_F_FCS        0x10 /* the frame ends with its 4-byte FCS */
#define NETYARD_WIFI_F_DATAPAD    0x20
#define NETYARD_WIFI_F_BADFCS     0x40 /* the FCS check failed */
#define NETYARD_WIFI_F_SHORTGI    0x80

/* chan_flags: radiotap channel flags. */
#define NETYARD_WIFI_CHAN_TURBO   0x0010
#define NETYARD_WIFI_CHAN_CCK     0x0020
#define NETYARD_WIFI_CHAN_OFDM    0x0040
#define NETYARD_WIFI_CHAN_2GHZ    0x0080
#define NETYARD_WIFI_CHAN_5GHZ    0x0100
#define NETYARD_WIFI_CHAN_PASSIVE 0x0200
#define NETYARD_WIFI_CHAN_DYN     0x0400
#define NETYARD_WIFI_CHAN_GFSK    0x0800

/* band: from freq (0 when there is no channel). */
#define NETYARD_WIFI_BAND_UNKNOWN 0
#define NETYARD_WIFI_BAND_2GHZ    1 /* 2400..2500 MHz */
#define NETYARD_WIFI_BAND_5GHZ    2 /* 4900..5900 MHz (5925 and up is 6 GHz) */
#define NETYARD_WIFI_BAND_6GHZ    3 /* 5925..7125 MHz */
#define NETYARD_WIFI_BAND_60GHZ   4 /* 57000..71000 MHz */

/* Classic BPF reads the same fields as ancillary loads (any load size
 * loads the whole 32-bit value): ld [NETYARD_AD_WIFI(off)] for a 4-byte
 * field at offset off of struct netyard_wifi_md, 8 <= off < 88; tsft and
 * tstamp are two loads (low word at 64/72, high word at 68/76). signal
 * and noise are two's complement: between negative values the unsigned
 * jgt/jge of classic BPF order them as signed. */
#define SKF_AD_OFF_NETYARD       (-0x1000)
#define NETYARD_AD_WIFI_BASE     0x100
#define NETYARD_AD_WIFI(off)     (SKF_AD_OFF_NETYARD + NETYARD_AD_WIFI_BASE + (off))
#define NETYARD_AD_WIFI_LEN      NETYARD_AD_WIFI(8)
#define NETYARD_AD_WIFI_PRESENT  NETYARD_AD_WIFI(16)
#define NETYARD_AD_WIFI_FLAGS    NETYARD_AD_WIFI(20)
#define NETYARD_AD_WIFI_SIGNAL   NETYARD_AD_WIFI(24)
#define NETYARD_AD_WIFI_NOISE    NETYARD_AD_WIFI(28)
#define NETYARD_AD_WIFI_RATE     NETYARD_AD_WIFI(32)
#define NETYARD_AD_WIFI_FREQ     NETYARD_AD_WIFI(36)
#define NETYARD_AD_WIFI_CHAN_FLAGS NETYARD_AD_WIFI(40)
#define NETYARD_AD_WIFI_BAND     NETYARD_AD_WIFI(44)
#define NETYARD_AD_WIFI_ANTENNA  NETYARD_AD_WIFI(48)
#define NETYARD_AD_WIFI_TSFT_LO  NETYARD_AD_WIFI(64)
#define NETYARD_AD_WIFI_TSFT_HI  NETYARD_AD_WIFI(68)
/* At an 802.11 device SKF_AD_HATYPE is 801 (ARPHRD_IEEE80211), SKF_AD_PROTOCOL 0. */
#define NETYARD_ARPHRD_IEEE80211 801

/* The 802.11 frame control field (first two bytes of data, little-endian):
 * fc = data[0] | data[1] << 8. */
#define NETYARD_WLAN_FC_TYPE(fc)    (((fc) >> 2) & 3)
#define NETYARD_WLAN_FC_SUBTYPE(fc) (((fc) >> 4) & 15)
#define NETYARD_WLAN_TYPE_MGMT 0
#define NETYARD_WLAN_TYPE_CTRL 1
#define NETYARD_WLAN_TYPE_DATA 2
#define NETYARD_WLAN_MGMT_ASSOC_REQ    0
#define NETYARD_WLAN_MGMT_ASSOC_RESP   1
#define NETYARD_WLAN_MGMT_REASSOC_REQ  2
#define NETYARD_WLAN_MGMT_REASSOC_RESP 3
#define NETYARD_WLAN_MGMT_PROBE_REQ    4
#define NETYARD_WLAN_MGMT_PROBE_RESP   5
#define NETYARD_WLAN_MGMT_BEACON       8
#define NETYARD_WLAN_MGMT_DISASSOC     10
#define NETYARD_WLAN_MGMT_AUTH         11
#define NETYARD_WLAN_MGMT_DEAUTH       12
#define NETYARD_WLAN_MGMT_ACTION       13
/* Management header: fc(2) duration(2) addr1 = DA (4) addr2 = SA (10)
 * addr3 = BSSID (16) seq_ctrl(22); the body starts at 24. */
#define NETYARD_WLAN_MGMT_HDR_LEN 24
#define NETYARD_WLAN_ADDR1 4
#define NETYARD_WLAN_ADDR2 10
#define NETYARD_WLAN_ADDR3 16

#endif
