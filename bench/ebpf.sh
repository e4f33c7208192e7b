#!/usr/bin/env bash
# Extended BPF (issue 10; bench/bpf.sh measures classic BPF): per
# packet, the example programs (the per-flow counter, the DSCP
# classifier, the ring buffer sampler) on the same
# packets, netyard's interpreter against the kernel's JIT as
# BPF_PROG_TEST_RUN with repeat reports it (the kernel's own average).
# netyard's time is the thread's CPU time (the kernel's test run leaves
# out the time it was rescheduled as well: the machine is shared). The
# ratio of each run is printed; RUNS runs (default 3), then the median.
# Needs root (BPF_PROG_TEST_RUN). Then the Go benchmarks: per-run time
# with 0 allocs (maps: lookups and updates of existing keys), the fixed
# cost of a run and the cost of one instruction.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load: $(uptime)"
echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs"
go test -c -o "$tmp/ebpf.test" ./bpf/ebpf
for i in $(seq "$RUNS"); do
	(cd bpf/ebpf && NETYARD_BPF_BENCH=1 "$tmp/ebpf.test" -test.run '^TestBenchKernelRatio$' -test.count=1) | grep ratio | tee -a "$tmp/ratio"
done
echo "median ratio (netyard / kernel JIT):"
for p in flow_counter dscp_classifier sampler_1in1024 sampler_ringfull; do
	printf '%-17s %s\n' "$p" "$(awk -v p="$p" '$1 == p { print $NF }' "$tmp/ratio" | tr -d x | median)x"
done
(cd bpf/ebpf && "$tmp/ebpf.test" -test.run '^$' -test.bench 'BenchmarkRun|BenchmarkEmpty' -test.benchtime 300000x -test.count "$RUNS") > "$tmp/bench"
(cd bpf/ebpf && "$tmp/ebpf.test" -test.run '^$' -test.bench 'BenchmarkInsnLoop' -test.benchtime 300x -test.count "$RUNS") >> "$tmp/bench"
echo "go benchmarks, median of $RUNS (wall ns/op; allocs/op):"
median_by_name "$tmp/bench" ns/op
median_by_name "$tmp/bench" allocs/op | sed 's/$/ allocs/'
median_by_name "$tmp/bench" ns/insn | sed 's/$/ ns\/insn/'
echo "load: $(uptime)"
