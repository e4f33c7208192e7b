// Programs the kernel's verifier rejects, for netyard's load checks and
// run-time stops (ebpf_test.go). Build: examples/bpf/build.sh.
#include "include/bpf_helpers.h"

static long (*bpf_csum_diff)(__be32 *from, __u32 from_size, __be32 *to, __u32 to_size, __u32 seed) = (void *)28;

// A helper netyard does not have: a load error naming it.
SEC("tc")
int unknown_helper(struct __sk_buff *skb)
{
	__be32 a = 1, b = 2;
	return bpf_csum_diff(&a, 4, &b, 4, 0);
}

// Reads past data_end without a check: a run-time stop.
SEC("tc")
int past_end(struct __sk_buff *skb)
{
	__u8 *p = (void *)(long)skb->data;
	return p[1500];
}

// Never ends: the instruction limit stops it.
SEC("tc")
int forever(struct __sk_buff *skb)
{
	volatile __u32 n = 0;
	for (;;)
		n++;
	return 0;
}

// Dereferences a map lookup's NULL.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} empty SEC(".maps");

SEC("tc")
int null_deref(struct __sk_buff *skb)
{
	__u32 k = 1;
	__u64 *v = bpf_map_lookup_elem(&empty, &k);
	return *v;
}

// Writes a read-only context field.
SEC("tc")
int ctx_write(struct __sk_buff *skb)
{
	skb->len = 1;
	return 0;
}
