// Test programs for the kernel differential (kernel_linux_test.go): each
// exercises a part of the instruction set, the context or the helpers and
// leaves what it computed where the test can compare it with the kernel:
// the return value, the packet, mark/priority/cb, or a map.
// Build: examples/bpf/build.sh.
#include "include/bpf_helpers.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} small SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u32);
} lru SEC(".maps");

static __always_inline void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&results, &k, &v, BPF_ANY);
}

// Context fields as the kernel's test run sets them.
SEC("tc")
int ctx_fields(struct __sk_buff *skb)
{
	put(0, skb->len);
	put(1, skb->pkt_type);
	put(2, skb->protocol);
	put(3, skb->ifindex);
	put(4, skb->ingress_ifindex);
	put(5, skb->mark);
	put(6, skb->priority);
	put(7, skb->vlan_present);
	put(8, skb->queue_mapping);
	put(9, skb->tc_index);
	put(10, skb->hash);
	put(11, skb->data_end - skb->data);
	put(12, skb->cb[0] + skb->cb[4]);
	put(13, skb->gso_size);
	put(14, skb->napi_id);
	put(15, *(__u8 *)((void *)skb + 1) + *(__u16 *)((void *)skb + 16));
	skb->mark = skb->len * 3;
	skb->priority = 7;
	skb->cb[2] = 0xabcd;
	skb->tc_index = 9;
	return skb->len & 3;
}

// ALU on packet bytes: every operation clang 14 emits, 32 and 64 bits.
static __always_inline __u64 ld64(void *p, void *end, int off)
{
	if (p + off + 8 > end)
		return 0x0123456789abcdefULL;
	return *(__u64 *)(p + off);
}

SEC("tc")
int alu(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u64 a = ld64(data, end, 14), b = ld64(data, end, 22) | 1;
	__s64 sa = (__s64)a, sb = (__s64)b;
	__u32 a32 = a, b32 = (b >> 7) | 1;
	__s32 sa32 = a32, sb32 = b32;
	__u64 r = 0;
	r ^= a + b; r ^= (a - b) << 1; r ^= a * b; r ^= a / b; r ^= a % b;
	// signed division and modulo need cpu v4 (clang >= 18): tested in Go (asm_test.go)
	r ^= a >> (b & 63); r ^= (__u64)(sa >> (b & 63)); r ^= a << (a & 63);
	r ^= (__u64)(a32 + b32) << 3; r ^= a32 * b32; r ^= a32 / b32; r ^= a32 % b32;
	r ^= a32 >> (b32 & 31); r ^= (__u32)(sa32 >> (b32 & 31));
	r ^= -a; r ^= (__u32)-a32; r ^= ~b;
	r ^= __builtin_bswap64(a); r ^= __builtin_bswap32(a32); r ^= __builtin_bswap16(b32);
	r ^= (__s64)(__s8)a; r ^= (__s64)(__s16)b; r ^= (__s64)(__s32)a;
	put(0, r);
	put(1, a > b); put(2, sa > sb); put(3, a32 < b32); put(4, sa32 < sb32);
	put(5, (a & b) != 0); put(6, a >= b); put(7, sa <= sb);
	return (int)(r & 0x7f);
}

// A bounded loop: a checksum over the packet, 2 bytes at a time.
SEC("tc")
int loop(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 sum = 0;
	for (int i = 0; i < 256; i++) {
		__u16 *p = data + i * 2;
		if ((void *)(p + 1) > end)
			break;
		sum += *p;
	}
	sum = (sum & 0xffff) + (sum >> 16);
	skb->mark = sum;
	return TC_ACT_OK;
}

// bpf-to-bpf calls, with stack pointers passed down.
static __noinline __u64 fold(__u64 *v, int n)
{
	__u64 s = 0;
	for (int i = 0; i < 4 && i < n; i++)
		s = s * 31 + v[i];
	return s;
}

static __noinline __u64 gather(struct __sk_buff *skb, int depth)
{
	__u64 v[4] = { skb->len, skb->protocol, depth, skb->mark };
	return fold(v, 4) + depth;
}

SEC("tc")
int calls(struct __sk_buff *skb)
{
	__u64 x = gather(skb, 1) ^ gather(skb, 2);
	put(0, x);
	skb->priority = (__u32)x;
	return (int)(x & 0xff);
}

// Atomics on map values: add, and/or/xor with fetch, xchg, cmpxchg.
SEC("tc")
int atomics(struct __sk_buff *skb)
{
	__u32 k = 1;
	__u64 *v = bpf_map_lookup_elem(&results, &k);
	if (!v)
		return TC_ACT_SHOT;
	__u64 old = __sync_fetch_and_add(v, skb->len);
	__sync_fetch_and_or(v, 0x100);
	__u64 o2 = __sync_fetch_and_xor(v, 0x5555);
	__u64 o3 = __sync_fetch_and_and(v, ~0x10ULL);
	__u64 o4 = __sync_lock_test_and_set(v, o3 + 1);
	__u64 o5 = __sync_val_compare_and_swap(v, o3 + 1, old + 7);
	__u64 o6 = __sync_val_compare_and_swap(v, 12345, 1);
	k = 2;
	__u64 *w = bpf_map_lookup_elem(&results, &k);
	if (w)
		*w = old ^ o2 ^ o3 ^ o4 ^ o5 ^ o6;
	k = 3;
	__u32 *c = (__u32 *)bpf_map_lookup_elem(&results, &k);
	if (c) {
		__sync_fetch_and_add(c, 1);
		__u32 prev = __sync_fetch_and_xor(c + 1, skb->len);
		__sync_val_compare_and_swap(c, prev, 3);
	}
	return TC_ACT_OK;
}

// Map helpers and their errors: update flags, full maps, deletes,
// per-CPU maps and the LRU.
SEC("tc")
int maps(struct __sk_buff *skb)
{
	__u32 k = skb->len % 6;
	__u64 v = skb->len;
	long e1 = bpf_map_update_elem(&small, &k, &v, BPF_NOEXIST);
	long e2 = bpf_map_update_elem(&small, &k, &v, BPF_EXIST);
	__u32 k2 = k + 100;
	long e3 = bpf_map_update_elem(&small, &k2, &v, BPF_EXIST);
	long e4 = bpf_map_update_elem(&small, &k2, &v, 7);
	long e5 = 0;
	if (skb->len % 5 == 0)
		e5 = bpf_map_delete_elem(&small, &k);
	long e6 = bpf_map_delete_elem(&small, &k2);
	__u32 big = 99;
	long e7 = bpf_map_update_elem(&results, &big, &v, BPF_ANY);
	__u32 zero = 0;
	long e8 = bpf_map_update_elem(&results, &zero, &v, BPF_NOEXIST);
	long e9 = bpf_map_delete_elem(&results, &zero);
	__u64 *pc = bpf_map_lookup_elem(&pcpu, &zero);
	if (pc)
		*pc += skb->len;
	__u32 hk = skb->protocol & 7;
	__u64 *ph = bpf_map_lookup_elem(&pcpu_hash, &hk);
	if (ph)
		*ph += 1;
	else
		bpf_map_update_elem(&pcpu_hash, &hk, &v, BPF_ANY);
	__u32 lk = skb->len, lv = skb->mark + 1;
	bpf_map_update_elem(&lru, &lk, &lv, BPF_ANY);
	__u32 *lp = bpf_map_lookup_elem(&lru, &lk);
	skb->cb[0] = (__u32)e1 ^ ((__u32)e2 << 8) ^ ((__u32)e3 << 16);
	skb->cb[1] = (__u32)e4 ^ ((__u32)e5 << 8) ^ ((__u32)e6 << 16);
	skb->cb[2] = (__u32)e7 ^ ((__u32)e8 << 8) ^ ((__u32)e9 << 16);
	skb->cb[3] = lp ? *lp : 0xdead;
	return TC_ACT_OK;
}

// skb_load_bytes, skb_store_bytes and the checksum helpers: rewrite the
// IPv4 destination and TTL and fix both checksums, as a NAT would.
SEC("tc")
int rewrite(struct __sk_buff *skb)
{
	struct iphdr ip;
	if (bpf_skb_load_bytes(skb, 14, &ip, sizeof(ip)) < 0) {
		__u8 b[4];
		return bpf_skb_load_bytes(skb, skb->len - 2, b, 4) == -14 ? 77 : 78;
	}
	if (skb->protocol != bpf_htons(ETH_P_IP) || ip.ihl != 5)
		return TC_ACT_UNSPEC;
	__be32 old = ip.daddr, new = bpf_htonl(0xc0a80001);
	int l4 = ip.protocol == IPPROTO_TCP ? 14 + 20 + 16 : ip.protocol == IPPROTO_UDP ? 14 + 20 + 6 : 0;
	long r = 0;
	if (l4)
		r |= bpf_l4_csum_replace(skb, l4, old, new, BPF_F_PSEUDO_HDR | 4 | (ip.protocol == IPPROTO_UDP ? 0x20 : 0));
	r |= bpf_l3_csum_replace(skb, 14 + 10, old, new, 4);
	r |= bpf_skb_store_bytes(skb, 14 + 16, &new, 4, 0);
	__u16 ottl = *(__u16 *)&ip.ttl, nttl;
	ip.ttl--;
	nttl = *(__u16 *)&ip.ttl;
	r |= bpf_skb_store_bytes(skb, 14 + 8, &ip.ttl, 1, 0);
	r |= bpf_l3_csum_replace(skb, 14 + 10, ottl, nttl, 2);
	r |= bpf_l3_csum_replace(skb, 14 + 10, 0, 0, 0);
	skb->cb[0] = r;
	skb->cb[1] = bpf_skb_store_bytes(skb, 1000, &new, 4, 0);
	skb->cb[2] = bpf_l3_csum_replace(skb, 13, 0, 0, 2);
	skb->cb[3] = bpf_l4_csum_replace(skb, 14, 0, 0, 3 | 0x1000);
	return TC_ACT_OK;
}

// redirect's verdict and flags checks.
SEC("tc")
int redirect(struct __sk_buff *skb)
{
	skb->cb[0] = bpf_redirect(1, 0x80);
	return bpf_redirect(skb->len % 3, skb->len & 1 ? BPF_F_INGRESS : 0);
}

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

// Legacy packet loads (LD_ABS/LD_IND), which end the program with 0
// when out of the packet.
SEC("tc")
int ldabs(struct __sk_buff *skb)
{
	__u64 a = load_byte(skb, 12) << 8 | load_byte(skb, 13);
	__u64 b = load_half(skb, 14);
	__u64 c = load_word(skb, 40);
	return (int)((a ^ b ^ c) & 0x7fff) | 0x10000;
}

// Tail calls through a prog_array (filled from the object's BTF initial
// values), a slot that is empty, and a chain that hits the limit of 33.
int tail_a(struct __sk_buff *skb);
int tail_b(struct __sk_buff *skb);
int tail_loop(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, 4);
	__array(values, int (struct __sk_buff *));
} jumps SEC(".maps") = {
	.values = { [0] = &tail_a, [1] = &tail_b, [2] = &tail_loop },
};

SEC("tc")
int tail_loop(struct __sk_buff *skb)
{
	skb->cb[2] += 1;
	bpf_tail_call(skb, &jumps, 2);
	return 50;
}

SEC("tc")
int tail_b(struct __sk_buff *skb)
{
	skb->cb[1] += 10;
	if (skb->cb[1] < 100)
		bpf_tail_call(skb, &jumps, 0);
	bpf_tail_call(skb, &jumps, 2);
	return 40;
}

SEC("tc")
int tail_a(struct __sk_buff *skb)
{
	skb->cb[0] = skb->cb[0] + 1;
	bpf_tail_call(skb, &jumps, 3); // empty: falls through
	bpf_tail_call(skb, &jumps, 1);
	return 30;
}

SEC("tc")
int tail_entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jumps, skb->len & 1);
	return 20;
}
