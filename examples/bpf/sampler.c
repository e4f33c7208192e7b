// A packet sampler: one packet in N (every N-th, counted; N from the
// config array, 0 or 1: every packet) sends its first 128 bytes, with its
// length and device, to a ring buffer that `netyard bpf map` streams.
//
//   tc filter add dev eth0 ingress bpf da obj sampler.o sec tc
//   netyard bpf map update name sampler_cfg key hex 00 00 00 00 value hex 64 00 00 00
#include "include/bpf_helpers.h"

#define SNAP 128

struct sample {
	__u32 len;
	__u32 ifindex;
	__u32 caplen;
	__u32 seq;
	__u8 data[SNAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);        // [0]: N, [1]: the packet counter
	__type(key, __u32);
	__type(value, __u32);
} sampler_cfg SEC(".maps");

SEC("tc")
int sampler(struct __sk_buff *skb)
{
	__u32 k0 = 0, k1 = 1;
	__u32 *n = bpf_map_lookup_elem(&sampler_cfg, &k0);
	__u32 *cnt = bpf_map_lookup_elem(&sampler_cfg, &k1);
	if (!n || !cnt)
		return TC_ACT_OK;
	__u32 seq = __sync_fetch_and_add(cnt, 1);
	__u32 every = *n;
	if (every > 1 && seq % every != 0)
		return TC_ACT_OK;

	struct sample *s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s)
		return TC_ACT_OK;
	__u32 caplen = skb->len;
	if (caplen > SNAP)
		caplen = SNAP;
	s->len = skb->len;
	s->ifindex = skb->ifindex;
	s->caplen = caplen;
	s->seq = seq;
	__builtin_memset(s->data, 0, SNAP);
	if (caplen < 1 || bpf_skb_load_bytes(skb, 0, s->data, caplen) < 0) {
		bpf_ringbuf_discard(s, 0);
		return TC_ACT_OK;
	}
	bpf_ringbuf_submit(s, 0);
	return TC_ACT_OK;
}
