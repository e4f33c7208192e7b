#!/usr/bin/env bash
# Extended BPF (issue 10; bench/bpf.sh measures classic BPF): per
# packet, the example programs (the per-flow counter, the DSCP
# classifier, the ring buffer sampler) on the same
# packets, netyard (its JIT on linux/amd64) against the kernel's JIT as
# BPF_PROG_TEST_RUN with repeat reports it (the kernel's own average).
# netyard's time is the thread's CPU time (the kernel's test run leaves
# out the time it was rescheduled as well: the machine is shared). The
# ratio of each run is printed; RUNS runs (default 3), then the median.
# Needs root (BPF_PROG_TEST_RUN). The sampler is measured twice, so that
# both sides do the same work (TestBenchKernelRatio says why). Then the
# Go benchmarks, netyard's JIT and its interpreter: per-run time with 0
# allocs (maps: lookups and updates of existing keys), the fixed cost of
# a run and the cost of one instruction, and interpreter / JIT.
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
# the Go benchmarks, machine code (the default on linux/amd64) and the
# interpreter (NETYARD_BPF_JIT=0) alternately
for i in $(seq "$RUNS"); do
	for form in jit interp; do
		jit=1
		[ "$form" = interp ] && jit=0
		(cd bpf/ebpf && NETYARD_BPF_JIT=$jit "$tmp/ebpf.test" -test.run '^$' -test.bench 'BenchmarkRun|BenchmarkEmpty' -test.benchtime 300000x -test.count 1) >> "$tmp/bench-$form"
		(cd bpf/ebpf && NETYARD_BPF_JIT=$jit "$tmp/ebpf.test" -test.run '^$' -test.bench 'BenchmarkInsnLoop' -test.benchtime 300x -test.count 1) >> "$tmp/bench-$form"
	done
done
for form in jit interp; do
	echo "go benchmarks ($form), median of $RUNS (wall ns/op; allocs/op):"
	median_by_name "$tmp/bench-$form" ns/op | tee "$tmp/med-$form"
	median_by_name "$tmp/bench-$form" allocs/op | sed 's/$/ allocs/'
	median_by_name "$tmp/bench-$form" ns/insn | sed 's/$/ ns\/insn/'
done
echo "interpreter / JIT (wall time per run):"
while read -r name v; do
	printf '%-32s %sx\n' "$name" "$(ratio "$(value "$name" "$tmp/med-interp")" "$v")"
done < "$tmp/med-jit"
echo "load: $(uptime)"
