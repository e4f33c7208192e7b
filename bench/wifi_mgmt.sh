#!/usr/bin/env bash
# Wireless management frames (issue 11): per frame of one realistic
# stream (1% probe requests from the watched OUI among beacons, data and
# other management frames), the hook path (the program at the 802.11
# device's ingress hook; a radiotap header and a hand-over to the
# listener only for the 1% kept) against the monitor path (every frame
# copied with a fresh radiotap header and handed to the listener, which
# reads the header and runs the same program), for the example program
# as eBPF (examples/bpf/wifi_probes.o) and the same test as classic BPF;
# and, for rejected frames, the hook against the program alone.
# datapath.BenchmarkWifiMgmt runs all of them in one process; each run
# prints its ratios, from the CPU time per frame (the worker's and the
# listener's goroutines: less disturbed by a loaded machine than wall
# time, which is printed too). RUNS runs (default 3), then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-3}
N=${N:-200000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load: $(uptime)"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs"
go test -c -o "$tmp/dp.test" ./datapath
for i in $(seq "$RUNS"); do
	(cd datapath && "$tmp/dp.test" -test.run '^$' -test.bench '^BenchmarkWifiMgmt$' -test.benchtime "${N}x" -test.count 1) > "$tmp/run$i"
	cat "$tmp/run$i" >> "$tmp/all"
	median_by_name "$tmp/run$i" cpu-ns/frame > "$tmp/cpu$i"
	for k in ebpf classic; do
		h=$(value "BenchmarkWifiMgmt/$k/hook" "$tmp/cpu$i")
		m=$(value "BenchmarkWifiMgmt/$k/monitor" "$tmp/cpu$i")
		hr=$(value "BenchmarkWifiMgmt/$k/hook-rejected" "$tmp/cpu$i")
		pr=$(value "BenchmarkWifiMgmt/$k/program-rejected" "$tmp/cpu$i")
		nh=$(value "BenchmarkWifiMgmt/$k/no-hook-rejected" "$tmp/cpu$i")
		net=$(awk -v a="$hr" -v b="$nh" 'BEGIN { print a - b }')
		echo "run $i $k: hook $h ns/frame, monitor $m ns/frame: monitor/hook $(ratio "$m" "$h")x; rejected: hook $hr, program alone $pr: hook/program $(ratio "$hr" "$pr")x; without a hook $nh: the hook adds $net, $(ratio "$net" "$pr")x the program" | tee -a "$tmp/ratios"
	done
done
echo "medians of $RUNS runs (cpu-ns/frame, then wall ns/op, allocs/op):"
median_by_name "$tmp/all" cpu-ns/frame | tee "$tmp/cpu"
median_by_name "$tmp/all" ns/op | sed 's/$/ wall ns/'
median_by_name "$tmp/all" allocs/op | sed 's/$/ allocs/'
for k in ebpf classic; do
	echo "$k: monitor/hook $(awk -v k="$k" '$3 == k":" { print $11 }' "$tmp/ratios" | tr -d 'x;' | median)x (median of the runs' ratios), rejected hook/program $(awk -v k="$k" '$3 == k":" { print $19 }' "$tmp/ratios" | tr -d 'x;' | median)x, what the hook adds/program $(awk -v k="$k" '$3 == k":" { print $(NF-2) }' "$tmp/ratios" | tr -d x | median)x"
done
echo "load: $(uptime)"
