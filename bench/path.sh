#!/usr/bin/env bash
# The in-process packet path per packet, in batches of 64: receive copy,
# parse, one flower filter, one action (mirred redirect, or gact drop),
# pfifo, transmit on an in-memory device. Prints ns/pkt, packets per
# second on one core, allocations, and mirred's cost relative to a drop.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=$(mktemp); med=$(mktemp); trap 'rm -f "$out" "$med"' EXIT
GOMAXPROCS=1 go test -run '^$' -bench '^BenchmarkPath$' -benchmem -count "${COUNT:-5}" ./datapath/ >"$out"
median_by_name "$out" ns/pkt >"$med"
m=$(value BenchmarkPath/flower+mirred "$med")
g=$(value BenchmarkPath/flower+gact-drop "$med")
echo "ns/pkt (median of ${COUNT:-5}): flower+mirred $m  flower+gact-drop $g"
echo "Mpps on one core: flower+mirred $(awk -v n="$m" 'BEGIN{printf "%.2f", 1000/n}')  flower+gact-drop $(awk -v n="$g" 'BEGIN{printf "%.2f", 1000/n}')"
echo "mirred / gact-drop = $(ratio "$m" "$g")"
grep -E '^BenchmarkPath/' "$out" | awk '{for(i=1;i<=NF;i++) if ($i=="allocs/op") a[$1]=$(i-1)} END {for (n in a) print "allocs/op per batch of 64:", n, a[n]}' | sed 's/-[0-9]* / /'
