#!/usr/bin/env bash
# Classic BPF: netyard's compiled programs against golang.org/x/net/bpf's
# VM, on programs tcpdump generates (`ip and tcp dst port 80`, `vlan and
# udp`, a 20-term `or` of hosts) over the 52 frames of
# bpf/cbpf/cbpftest's corpus (BenchmarkVM); the ratio x/net/bpf time /
# netyard time per program (target >= 3); BenchmarkVMRatio alternates
# bursts of the two and keeps each one's fastest, the figure to quote on
# a loaded machine. Then the bpf classifier's path
# (cls BenchmarkClassifyBpf: Block.Classify with one bpf filter and gact,
# beside flower for the same match): ns/packet and allocations.
# Each benchmark runs COUNT times (default 10); the medians and the minima
# are printed: on a shared, loaded machine the minimum is the steadier
# figure. Needs tcpdump. Runs from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. bench/lib.sh
COUNT="${COUNT:-10}"

command -v tcpdump >/dev/null || { echo "bpf.sh: needs tcpdump (the programs are tcpdump -ddd's)" >&2; exit 1; }
echo "# $(uptime)"
tmp="$(mktemp)"
trap 'rm -f "$tmp" "$tmp.m"' EXIT
go test -run '^$' -bench 'BenchmarkVM$' -benchtime 300000x -count "$COUNT" ./bpf/cbpf/ >"$tmp"
median_by_name "$tmp" ns/op >"$tmp.m"
awk '/^Benchmark/ { n = $1; sub(/-[0-9]+$/, "", n); if (!(n in m) || $3 < m[n]) m[n] = $3 }
	END { for (n in m) print n, m[n] }' "$tmp" | sort >"$tmp.min"
printf '%-10s %12s %12s %8s   %12s %12s %8s\n' program "netyard med" "x/net med" ratio "netyard min" "x/net min" ratio
for p in port80 vlan-udp hosts20; do
	ny=$(value "BenchmarkVM/$p/netyard" "$tmp.m"); xn=$(value "BenchmarkVM/$p/xnet" "$tmp.m")
	nymin=$(value "BenchmarkVM/$p/netyard" "$tmp.min"); xnmin=$(value "BenchmarkVM/$p/xnet" "$tmp.min")
	printf '%-10s %12s %12s %7sx   %12s %12s %7sx\n' "$p" "$ny" "$xn" "$(ratio "$xn" "$ny")" "$nymin" "$xnmin" "$(ratio "$xnmin" "$nymin")"
done
rm -f "$tmp.min"
echo
echo "alternating bursts (BenchmarkVMRatio), fastest burst of each:"
go test -run '^$' -bench 'BenchmarkVMRatio' -benchtime 300x -count 3 ./bpf/cbpf/ |
	awk '/^BenchmarkVMRatio/ { n = $1; sub(/^BenchmarkVMRatio\//, "", n); sub(/-[0-9]+$/, "", n)
		for (i = 2; i < NF; i++) { if ($(i+1) == "netyard-ns/frame") ny = $i; if ($(i+1) == "xnet-ns/frame") xn = $i; if ($(i+1) == "ratio") r = $i }
		printf "  %-10s netyard %6.2f ns/frame  x/net/bpf %6.2f ns/frame  ratio %.2fx\n", n, ny, xn, r }'

go test -run '^$' -bench 'BenchmarkClassifyBpf' -benchmem -count "$COUNT" ./cls/ >"$tmp"
echo
echo "classifier path (Block.Classify, one filter, gact pass), median ns/packet and allocs/packet:"
median_by_name "$tmp" ns/op | sed 's/^BenchmarkClassifyBpf\//  /'
median_by_name "$tmp" allocs/op | sed 's/^BenchmarkClassifyBpf\//  allocs /'
