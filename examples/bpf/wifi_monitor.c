// A wireless monitor at netyard's 802.11 receive hook (docs/WIFI.md): it
// reads each frame as it came off the air, with the receiver's metadata
// in the context instead of a radiotap header, and
//   - counts probe requests per source MAC (map wifi_probes),
//   - tracks the signal of every transmitter (map wifi_signal: last, min,
//     max, sum and count in dBm),
//   - detects a deauthentication flood: deauthentication and
//     disassociation frames per BSSID a second, estimated over a sliding
//     second (this window's count and the previous window's, weighted by
//     how much of it the last second still covers: the sliding window
//     counter of rate limiters); the first frame that takes the estimate
//     over the threshold (wifi_monitor_cfg[0], default 30 a second) in a
//     window writes an event to the ring buffer wifi_events,
//   - keeps only deauthentication and disassociation frames (the
//     evidence) for the device's listeners; every other frame is
//     rejected, so nothing is built or copied for it.
//
//   dev add wlan0 type memory link ieee80211
//   tc filter add dev wlan0 ingress bpf da obj wifi_monitor.o sec netyard/wifi
//   netyard bpf map dump name wifi_probes
//   netyard bpf map event_pipe name wifi_events
#include "include/netyard_wifi.h"

#define NSEC_PER_SEC 1000000000ULL
#define DEFAULT_THRESHOLD 30

struct mac_key {
	__u8 addr[6];
	__u8 pad[2];
};

struct signal_stats {
	__s32 last;      // dBm
	__s32 min;
	__s32 max;
	__u32 freq;      // MHz, of the last frame
	__s64 sum;       // of the signals, dBm: sum / frames is the mean
	__u64 frames;
	__u64 last_seen; // ns
};

struct flood_state {
	__u64 window_start; // ns; windows are one second, aligned on the first frame
	__u32 count;        // deauthentications and disassociations in this window
	__u32 prev;         // in the window before
	__u32 flagged;      // an event was written in this window
	__u32 pad;
	__u64 total;
};

struct flood_event {
	__u64 time;      // ns: the frame that crossed the threshold
	__u64 window_start;
	__u8 bssid[6];
	__u8 subtype;    // of that frame (10 disassociation, 12 deauthentication)
	__u8 pad;
	__u32 count;     // the estimate of frames in the last second
	__s32 signal;    // dBm, of that frame
	__u32 freq;      // MHz
	__u32 threshold;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mac_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} wifi_probes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mac_key);
	__type(value, struct signal_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} wifi_signal SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct mac_key);
	__type(value, struct flood_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} wifi_flood SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} wifi_events SEC(".maps");

// [0]: the flood threshold in frames a second (0: DEFAULT_THRESHOLD).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} wifi_monitor_cfg SEC(".maps");

// [0] frames seen, [1] management frames, [2] probe requests,
// [3] deauthentications and disassociations, [4] frames kept, [5] events,
// [6] events lost to a full ring buffer (the alarm is tried again at the
// next frame of the flood).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 7);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} wifi_monitor_stats SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&wifi_monitor_stats, &i);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void track_signal(struct netyard_wifi_md *ctx, struct mac_key *ta, __u64 now)
{
	struct signal_stats *s = bpf_map_lookup_elem(&wifi_signal, ta);
	__s32 sig = ctx->signal;
	if (!s) {
		struct signal_stats init = {.last = sig, .min = sig, .max = sig, .freq = ctx->freq, .sum = sig, .frames = 1, .last_seen = now};
		bpf_map_update_elem(&wifi_signal, ta, &init, BPF_NOEXIST);
		return;
	}
	s->last = sig;
	if (sig < s->min)
		s->min = sig;
	if (sig > s->max)
		s->max = sig;
	s->freq = ctx->freq;
	s->sum += sig;
	s->frames++;
	s->last_seen = now;
}

static __always_inline void flood_check(struct netyard_wifi_md *ctx, struct mac_key *bssid, __u8 subtype, __u64 now)
{
	__u32 k0 = 0;
	__u32 *cfg = bpf_map_lookup_elem(&wifi_monitor_cfg, &k0);
	__u32 threshold = cfg && *cfg ? *cfg : DEFAULT_THRESHOLD;
	struct flood_state *f = bpf_map_lookup_elem(&wifi_flood, bssid);
	if (!f) {
		struct flood_state init = {.window_start = now};
		bpf_map_update_elem(&wifi_flood, bssid, &init, BPF_NOEXIST);
		f = bpf_map_lookup_elem(&wifi_flood, bssid);
		if (!f)
			return;
	}
	__u64 el = now - f->window_start;
	if (now < f->window_start) {
		el = 0; // time went back (a replay): stay in this window
	} else if (el >= NSEC_PER_SEC) {
		__u64 n = el / NSEC_PER_SEC;
		f->prev = n == 1 ? f->count : 0;
		f->count = 0;
		f->flagged = 0;
		f->window_start += n * NSEC_PER_SEC;
		el -= n * NSEC_PER_SEC;
	}
	f->count++;
	f->total++;
	__u64 est = f->count + (__u64)f->prev * (NSEC_PER_SEC - el) / NSEC_PER_SEC;
	if (est <= threshold || f->flagged)
		return;
	struct flood_event *e = bpf_ringbuf_reserve(&wifi_events, sizeof(*e), 0);
	if (!e) {
		count(6);
		return;
	}
	f->flagged = 1;
	e->time = now;
	e->window_start = f->window_start;
	__builtin_memcpy(e->bssid, bssid->addr, 6);
	e->subtype = subtype;
	e->pad = 0;
	e->count = est;
	e->signal = ctx->signal;
	e->freq = ctx->freq;
	e->threshold = threshold;
	bpf_ringbuf_submit(e, 0);
	count(5);
}

SEC("netyard/wifi")
int wifi_monitor(struct netyard_wifi_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *end = (void *)(long)ctx->data_end;
	__u64 now = ctx->tstamp;
	struct mac_key ta = {}, bssid = {};

	count(0);
	// Frame control, duration, addr1, addr2: every frame with a
	// transmitter address (not ACK or CTS) has them.
	if (data + 16 > end)
		return TC_ACT_SHOT;
	__u16 fc = data[0] | data[1] << 8;
	__u8 type = NETYARD_WLAN_FC_TYPE(fc), subtype = NETYARD_WLAN_FC_SUBTYPE(fc);
	if (type == NETYARD_WLAN_TYPE_CTRL)
		return TC_ACT_SHOT;
	__builtin_memcpy(ta.addr, data + NETYARD_WLAN_ADDR2, 6);
	if (ctx->present & NETYARD_WIFI_HAS_SIGNAL)
		track_signal(ctx, &ta, now);
	if (type != NETYARD_WLAN_TYPE_MGMT)
		return TC_ACT_SHOT;
	count(1);
	if (subtype == NETYARD_WLAN_MGMT_PROBE_REQ) {
		count(2);
		__u64 one = 1, *n = bpf_map_lookup_elem(&wifi_probes, &ta);
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			bpf_map_update_elem(&wifi_probes, &ta, &one, BPF_NOEXIST);
		return TC_ACT_SHOT;
	}
	if (subtype != NETYARD_WLAN_MGMT_DEAUTH && subtype != NETYARD_WLAN_MGMT_DISASSOC)
		return TC_ACT_SHOT;
	if (data + NETYARD_WLAN_MGMT_HDR_LEN > end)
		return TC_ACT_SHOT;
	count(3);
	__builtin_memcpy(bssid.addr, data + NETYARD_WLAN_ADDR3, 6);
	flood_check(ctx, &bssid, subtype, now);
	count(4);
	return TC_ACT_OK;
}
