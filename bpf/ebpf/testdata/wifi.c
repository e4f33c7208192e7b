// Programs for the 802.11 hook's context (TestWifiContext): every field
// of struct netyard_wifi_md read into an array, direct packet access and
// bpf_skb_load_bytes on the bare 802.11 frame, the writable fields
// written; a read the context does not allow; a tc program at the same
// hook.
#include "include/netyard_wifi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 24);
	__type(key, __u32);
	__type(value, __u64);
} wifi_seen SEC(".maps");

static __always_inline void put(__u32 k, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&wifi_seen, &k);
	if (p)
		*p = v;
}

SEC("netyard/wifi")
int wifi_ctx(struct netyard_wifi_md *ctx)
{
	put(0, ctx->len);
	put(1, ctx->ifindex);
	put(2, ctx->present);
	put(3, ctx->flags);
	put(4, (__u64)(__s64)ctx->signal);
	put(5, (__u64)(__s64)ctx->noise);
	put(6, ctx->rate);
	put(7, ctx->freq);
	put(8, ctx->chan_flags);
	put(9, ctx->band);
	put(10, ctx->antenna);
	put(11, ctx->mcs);
	put(12, ctx->vht);
	put(13, ctx->vht_mcs_nss);
	put(14, ctx->tsft);
	put(15, ctx->tstamp);
	put(16, ctx->mark);
	__u8 *d = (void *)(long)ctx->data, *e = (void *)(long)ctx->data_end;
	put(17, e - d);
	if (d + 1 <= e)
		put(18, d[0]);
	__u8 b[2];
	put(19, bpf_skb_load_bytes(ctx, 0, b, 2) == 0 ? b[1] : 999);
	put(20, *(volatile __u8 *)&ctx->freq); /* a narrow load: the low byte */
	ctx->mark = 0x1234;
	ctx->keep_len = 30;
	return TC_ACT_OK;
}

SEC("netyard/wifi/bad")
int wifi_bad(struct netyard_wifi_md *ctx)
{
	return *(volatile __u32 *)((char *)ctx + 68); /* half of tsft */
}

SEC("tc")
int skb_on_wifi(struct __sk_buff *skb)
{
	return skb->len;
}
