#!/usr/bin/env bash
# What the pool's safety switches cost: recycling against debug mode
# (poison and abandon every buffer) and leak-check mode, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=$(mktemp); med=$(mktemp); trap 'rm -f "$out" "$med"' EXIT
go test -run '^$' -bench '^BenchmarkPool$' -benchmem -count "${COUNT:-5}" ./pkt/ >"$out"
median_by_name "$out" ns/op >"$med"
r=$(value BenchmarkPool/recycle "$med")
d=$(value BenchmarkPool/debug-poison "$med")
l=$(value BenchmarkPool/leakcheck "$med")
echo "get+release, ns/op (median of ${COUNT:-5}): recycle $r  debug-poison $d  leakcheck $l"
echo "debug-poison / recycle = $(ratio "$d" "$r")"
echo "leakcheck / recycle    = $(ratio "$l" "$r")"
grep -E '^BenchmarkPool/' "$out" | awk '{print $1, $(NF-1), $NF}' | sort -u | sed 's/^/allocs: /' | head -3
