#!/usr/bin/env bash
# fq_codel and netem against pfifo: an enqueue and a dequeue with 1024
# backlogged flows (fq_codel), about 1024 packets in flight through a
# netem with delay 10ms, jitter 1ms (normal) and loss 1%, or 1024 queued
# packets (pfifo), one core, in one run.
# Prints ns/op, millions of packets a second, and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=$(mktemp); med=$(mktemp); trap 'rm -f "$out" "$med"' EXIT
GOMAXPROCS=1 go test -run '^$' -bench '^BenchmarkFQCodel$' -benchmem -count "${COUNT:-5}" ./qdisc/fqcodel/ >"$out"
GOMAXPROCS=1 go test -run '^$' -bench '^BenchmarkFifo$' -benchmem -count "${COUNT:-5}" ./qdisc/fifo/ >>"$out"
GOMAXPROCS=1 go test -run '^$' -bench '^BenchmarkNetem$' -benchmem -count "${COUNT:-5}" ./qdisc/netem/ >>"$out"
median_by_name "$out" ns/op >"$med"
f=$(value BenchmarkFQCodel "$med")
p=$(value BenchmarkFifo "$med")
n=$(value BenchmarkNetem "$med")
echo "enqueue+dequeue, ns/op (median of ${COUNT:-5}): fq_codel $f  netem $n  pfifo $p"
echo "Mpps on one core: fq_codel $(awk -v n="$f" 'BEGIN{printf "%.1f", 1000/n}')  netem $(awk -v x="$n" 'BEGIN{printf "%.1f", 1000/x}')  pfifo $(awk -v n="$p" 'BEGIN{printf "%.1f", 1000/n}')"
echo "fq_codel / pfifo = $(ratio "$f" "$p")  netem / pfifo = $(ratio "$n" "$p")"
grep -E '^Benchmark(FQCodel|Fifo|Netem)' "$out" | awk '{for(i=1;i<=NF;i++) if ($i=="allocs/op") a[$1]=$(i-1)} END {for (n in a) print "allocs/op:", n, a[n]}'
