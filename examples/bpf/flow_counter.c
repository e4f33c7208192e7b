// A per-flow packet and byte counter: a hash map keyed by the 5-tuple
// (addresses, ports, protocol), for IPv4 and IPv6 behind up to one VLAN
// tag, counting every packet it sees and letting it pass.
//
//   tc filter add dev eth0 ingress bpf object-file flow_counter.o section tc da
//   netyard bpf map dump name flows
//
// Non-first fragments and packets without ports count with ports 0; IPv6
// extension headers (hop-by-hop, routing, destination options, fragment)
// are walked, at most 4 of them.
#include "include/bpf_helpers.h"

struct flow_key {
	__u8 saddr[16];   // IPv4 addresses take the first 4 bytes
	__u8 daddr[16];
	__u16 sport;      // network byte order
	__u16 dport;
	__u8 proto;
	__u8 family;      // 4 or 6
	__u8 pad[2];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

static __always_inline int ports(void *p, void *end, struct flow_key *k)
{
	struct ports *pp = p;
	if ((void *)(pp + 1) > end)
		return 0;
	k->sport = pp->source;
	k->dport = pp->dest;
	return 1;
}

SEC("tc")
int flow_counter(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct flow_key k = {};
	void *p;
	__u16 proto;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	proto = eth->h_proto;
	p = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = p;
		if ((void *)(vh + 1) > end)
			return TC_ACT_OK;
		proto = vh->proto;
		p = vh + 1;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = p;
		if ((void *)(ip + 1) > end)
			return TC_ACT_OK;
		__builtin_memcpy(k.saddr, &ip->saddr, 4);
		__builtin_memcpy(k.daddr, &ip->daddr, 4);
		k.proto = ip->protocol;
		k.family = 4;
		if (ip->ihl < 5)
			return TC_ACT_OK;
		if (!(ip->frag_off & bpf_htons(0x1fff)) &&
		    (k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP))
			ports(p + ip->ihl * 4, end, &k);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = p;
		__u8 nh;
		int i, frag = 0;
		if ((void *)(ip6 + 1) > end)
			return TC_ACT_OK;
		__builtin_memcpy(k.saddr, ip6->saddr, 16);
		__builtin_memcpy(k.daddr, ip6->daddr, 16);
		k.family = 6;
		nh = ip6->nexthdr;
		p = ip6 + 1;
		for (i = 0; i < 4; i++) {
			__u8 *h = p;
			if (nh != 0 && nh != 43 && nh != 60 && nh != 44)
				break;
			if ((void *)(h + 8) > end)
				return TC_ACT_OK;
			if (nh == 44) {
				if ((h[2] << 8 | h[3]) & 0xfff8)
					frag = 1;
				nh = h[0];
				p = h + 8;
				continue;
			}
			nh = h[0];
			p = h + (h[1] + 1) * 8;
		}
		k.proto = nh;
		if (!frag && (nh == IPPROTO_TCP || nh == IPPROTO_UDP))
			ports(p, end, &k);
	} else {
		return TC_ACT_OK;
	}

	struct flow_stats *st = bpf_map_lookup_elem(&flows, &k);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, skb->len);
	} else {
		struct flow_stats init = { .packets = 1, .bytes = skb->len };
		bpf_map_update_elem(&flows, &k, &init, BPF_NOEXIST);
	}
	return TC_ACT_OK;
}
