// A DSCP classifier in direct-action mode: the DSCP of an IPv4 or IPv6
// packet (behind up to one VLAN tag) picks the packet's priority and its
// TX queue from a table (an array of 64 entries the user fills; an empty
// entry means "the DSCP's class selector": priority = DSCP >> 3, queue =
// priority % 4), and the class 1:(priority+1) for an HTB or mqprio below.
// It counts each DSCP in a second array.
//
//   tc filter add dev eth0 egress bpf da obj dscp_classifier.o sec tc
//   netyard bpf map update name dscp_table key hex 2e 00 00 00 value hex 06 00 00 00 02 00 00 00
#include "include/bpf_helpers.h"

struct dscp_entry {
	__u32 priority;
	__u32 queue;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct dscp_entry);
} dscp_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} dscp_hits SEC(".maps");

SEC("tc")
int dscp_classifier(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u16 proto;
	void *p;
	__u32 dscp;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	proto = eth->h_proto;
	p = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q)) {
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
		dscp = ip->tos >> 2;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		__u8 *b = p;
		if ((void *)(b + 2) > end)
			return TC_ACT_OK;
		dscp = ((b[0] & 0x0f) << 2) | (b[1] >> 6);
	} else {
		return TC_ACT_OK;
	}

	__u32 prio = dscp >> 3, queue = prio % 4;
	struct dscp_entry *e = bpf_map_lookup_elem(&dscp_table, &dscp);
	if (e && (e->priority || e->queue)) {
		prio = e->priority;
		queue = e->queue;
	}
	skb->priority = prio;
	skb->queue_mapping = queue;
	skb->tc_classid = TC_H_MAKE(1 << 16, prio + 1);

	__u64 *hits = bpf_map_lookup_elem(&dscp_hits, &dscp);
	if (hits)
		__sync_fetch_and_add(hits, 1);
	return TC_ACT_OK;
}
