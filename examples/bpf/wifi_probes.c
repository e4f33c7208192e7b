// Keeps the probe requests of a watched vendor at netyard's 802.11 hook
// (docs/WIFI.md): every other frame is rejected before a radiotap header
// is built or a byte copied. The watched OUI (the first three bytes of
// the sender's address) is element 0 of wifi_watch; an all-zero entry
// (the default) watches every sender. Per-CPU counters in wifi_probe_stats:
// [0] frames seen, [1] probe requests kept, [2] their signal summed (dBm,
// as a negative number) for an average.
//
//   dev add wlan0 type memory link ieee80211
//   tc filter add dev wlan0 ingress bpf da obj wifi_probes.o sec netyard/wifi
//   netyard bpf map update name wifi_watch key 0 0 0 0 value hex 00 1b 63 00
//   netyard capture dev wlan0 file probes.pcap
#include "include/netyard_wifi.h"

struct watch {
	__u8 oui[3];
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct watch);
} wifi_watch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __s64);
} wifi_probe_stats SEC(".maps");

static __always_inline void count(__u32 k, __s64 v)
{
	__s64 *c = bpf_map_lookup_elem(&wifi_probe_stats, &k);
	if (c)
		*c += v;
}

SEC("netyard/wifi")
int wifi_probes(struct netyard_wifi_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;

	if (p + NETYARD_WLAN_MGMT_HDR_LEN > end)
		return TC_ACT_SHOT;
	__u16 fc = p[0] | p[1] << 8;
	if (NETYARD_WLAN_FC_TYPE(fc) != NETYARD_WLAN_TYPE_MGMT ||
	    NETYARD_WLAN_FC_SUBTYPE(fc) != NETYARD_WLAN_MGMT_PROBE_REQ)
		return TC_ACT_SHOT;
	__u32 k = 0;
	struct watch *w = bpf_map_lookup_elem(&wifi_watch, &k);
	if (w && (w->oui[0] | w->oui[1] | w->oui[2]) &&
	    (p[NETYARD_WLAN_ADDR2] != w->oui[0] || p[NETYARD_WLAN_ADDR2 + 1] != w->oui[1] ||
	     p[NETYARD_WLAN_ADDR2 + 2] != w->oui[2]))
		return TC_ACT_SHOT;
	count(0, 1);
	if (ctx->present & NETYARD_WIFI_HAS_SIGNAL)
		count(1, ctx->signal);
	return TC_ACT_OK;
}
