#!/usr/bin/env bash
# What refcount_t's checks cost: the add-then-fix-up refcount against an
# unchecked atomic add (atomic_t) and a checking compare-and-swap loop,
# measured in one run. Prints the medians and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=$(mktemp); med=$(mktemp); trap 'rm -f "$out" "$med"' EXIT
go test -run '^$' -bench '^BenchmarkRefcount$' -count "${COUNT:-5}" ./pkt/ >"$out"
median_by_name "$out" ns/op >"$med"
a=$(value BenchmarkRefcount/atomic-unchecked "$med")
f=$(value BenchmarkRefcount/add-fixup "$med")
c=$(value BenchmarkRefcount/cas-loop "$med")
echo "hold+release, ns/op (median of ${COUNT:-5}): atomic-unchecked $a  add-fixup $f  cas-loop $c"
echo "add-fixup / atomic-unchecked = $(ratio "$f" "$a")   (the cost of refcount_t's checks)"
echo "cas-loop / add-fixup         = $(ratio "$c" "$f")   (what add-then-fix-up saves)"

out2=$(mktemp); med2=$(mktemp); trap 'rm -f "$out" "$med" "$out2" "$med2"' EXIT
go test -run '^$' -bench '^BenchmarkRefcountContended$' -count "${COUNT:-5}" ./pkt/ >"$out2"
median_by_name "$out2" ns/op >"$med2"
fc=$(value BenchmarkRefcountContended/add-fixup "$med2")
cc=$(value BenchmarkRefcountContended/cas-loop "$med2")
echo "contended (all cores on one count), ns/op: add-fixup $fc  cas-loop $cc"
echo "cas-loop / add-fixup, contended = $(ratio "$cc" "$fc")"
