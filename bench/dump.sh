#!/usr/bin/env bash
# Statistics dumps, the kernel against netyard, in one run (the statistics
# issue's figures). Needs root and iproute2.
#
#  1. The kernel: K mirred actions (default 100000) in a network namespace
#     of its own; `tc -s actions ls action mirred` to /dev/null.
#  2. netyard: `netyard daemon` on a private socket with N gact actions
#     (default 1000000); `netyard tc -s actions ls action gact` to
#     /dev/null. Prints the per-entry speed ratio netyard / kernel.
#  3. Deltas: 1000 of the N actions are replaced; `since gen G` (G from a
#     listing before) must return exactly those 1000; its time against the
#     full dump's, both as `netyard tc --time` reports them (request to
#     last line, without the process's start-up).
#  4. BIG actions (default 6000000; BIG=0 skips): the daemon grows to BIG,
#     a full dump's wall time and the daemon's resident memory.
#  5. Equal N: both sides at 100000 actions, then both at 1000000
#     (EQUAL=0 skips), their dumps timed run by run in turn (kernel,
#     netyard, kernel, ...) so that drift lands on both; the per-entry
#     ratio at each N. (1. and 2. compare K kernel actions with N
#     netyard ones: the kernel's per-entry cost grows with its table.)
#
# Each timing is the median of RUNS runs (default 3): the machine is noisy.
# Cleans up the namespace and the daemon on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
K=${K:-100000}
N=${N:-1000000}
BIG=${BIG:-6000000}
EQUAL=${EQUAL:-1}
RUNS=${RUNS:-3}
CHANGED=1000
if [ "$(id -u)" != 0 ]; then
	echo "dump.sh: needs root (a network namespace for the kernel's side)" >&2
	exit 1
fi
tmp=$(mktemp -d)
ns=nydump$$
cleanup() {
	[ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
# pair CMD_A -- CMD_B: wall seconds of two commands, RUNS runs each in
# turn (A, B, A, B, ...); prints "median_A median_B".
pair() {
	local a=() b=() i x y
	while [ "$1" != "--" ]; do a+=("$1"); shift; done
	shift
	b=("$@")
	for i in $(seq "$RUNS"); do
		x=$(now); "${a[@]}" >/dev/null; y=$(now)
		awk -v a="$x" -v b="$y" 'BEGIN { print b - a }' >>"$tmp/pair.a"
		x=$(now); "${b[@]}" >/dev/null; y=$(now)
		awk -v a="$x" -v b="$y" 'BEGIN { print b - a }' >>"$tmp/pair.b"
	done
	echo "$(median <"$tmp/pair.a") $(median <"$tmp/pair.b")"
	rm -f "$tmp/pair.a" "$tmp/pair.b"
}
# the --time figure (ms) of a netyard tc dump: fresh processes (RUNS of
# them, median), and warm (one process, --repeat RUNS+1, the first dropped,
# median)
dumptime() {
	for _ in $(seq "$RUNS"); do
		"$tmp/netyard" tc --time "$@" 2>&1 >/dev/null | awk '/ ms$/ { print $(NF-1) }'
	done | median
}
warmtime() {
	"$tmp/netyard" tc --time --repeat $((RUNS + 1)) "$@" 2>&1 >/dev/null | awk '/ ms$/ { print $(NF-1) }' | tail -n +2 | median
}

# 1. The kernel.
ip netns add "$ns"
ip -n "$ns" link set lo up
awk -v n="$K" 'BEGIN { for (i = 1; i <= n; i++) printf "actions add action mirred egress redirect dev lo index %d\n", i }' >"$tmp/k.batch"
tc -n "$ns" -b "$tmp/k.batch"
kt=$(wall tc -n "$ns" -s actions ls action mirred)

# 2. netyard.
go build -o "$tmp/netyard" ./cmd/netyard
export NETYARD_SOCKET="$tmp/ctl.sock"
"$tmp/netyard" daemon --dev eth0 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 50); do [ -S "$NETYARD_SOCKET" ] && break; sleep 0.1; done
# add FROM TO: gact actions FROM..TO, in batches (a batch travels whole;
# each stays under the 1 MiB request cap)
add() {
	for ((s = $1; s <= $2; s += 20000)); do
		awk -v a="$s" -v b="$((s + 19999 < $2 ? s + 19999 : $2))" \
			'BEGIN { for (i = a; i <= b; i++) printf "actions add action gact pass index %d\n", i }' >"$tmp/n.batch"
		"$tmp/netyard" tc -b "$tmp/n.batch"
	done
}
# 5a. Equal N at 100000: the kernel holds K (grown or not to 100000),
# netyard 100000 (grown to N after).
if [ "$EQUAL" = 1 ]; then
	E1=100000
	E2=1000000
	if [ "$K" -lt "$E1" ]; then
		awk -v a="$((K + 1))" -v n="$E1" 'BEGIN { for (i = a; i <= n; i++) printf "actions add action mirred egress redirect dev lo index %d\n", i }' >"$tmp/k.batch"
		tc -n "$ns" -b "$tmp/k.batch"
		kn=$E1
	else
		kn=$K
	fi
	add 1 "$E1"
	if [ "$kn" = "$E1" ]; then
		read -r ke1 ne1 < <(pair tc -n "$ns" -s actions ls action mirred -- "$tmp/netyard" tc -s actions ls action gact)
	fi
	add $((E1 + 1)) "$N"
else
	add 1 "$N"
fi
nt=$(wall "$tmp/netyard" tc -s actions ls action gact)
full_ms=$(dumptime -s actions ls action gact)
full_warm=$(warmtime -s actions ls action gact)

# 3. Deltas.
gen=$("$tmp/netyard" tc actions ls action gact since gen 0 | awk '$1 == "generation" { print $2 }')
awk -v n="$N" -v c="$CHANGED" 'BEGIN { for (i = 1; i <= c; i++) printf "actions replace action gact pipe index %d\n", 1 + int((i - 1) * n / c) }' >"$tmp/r.batch"
"$tmp/netyard" tc -b "$tmp/r.batch"
got=$("$tmp/netyard" tc -s actions ls action gact since gen "$gen" | grep -c "action order" || true)
since_ms=$(dumptime -s actions ls action gact since gen "$gen")
since_warm=$(warmtime -s actions ls action gact since gen "$gen")

# 5b. Equal N at 1000000: the kernel grows to it, netyard is there
# (N = 1000000) or is compared at N.
if [ "$EQUAL" = 1 ] && [ "$N" = "$E2" ]; then
	awk -v a="$((kn + 1))" -v n="$E2" 'BEGIN { for (i = a; i <= n; i++) printf "actions add action mirred egress redirect dev lo index %d\n", i }' >"$tmp/k.batch"
	tc -n "$ns" -b "$tmp/k.batch"
	read -r ke2 ne2 < <(pair tc -n "$ns" -s actions ls action mirred -- "$tmp/netyard" tc -s actions ls action gact)
	# The kernel's namespace goes: a million mirred actions hold memory.
	ip netns del "$ns"
fi

# 4. Big.
if [ "$BIG" -gt "$N" ]; then
	add $((N + 1)) "$BIG"
	bt=$(wall "$tmp/netyard" tc -s actions ls action gact)
	rss=$(ps -o rss= -p "$daemon")
fi

awk -v k="$K" -v n="$N" -v kt="$kt" -v nt="$nt" -v runs="$RUNS" 'BEGIN {
	printf "dump.sh: medians of %d runs\n", runs
	printf "kernel:  tc -s actions ls action mirred, %d actions: %.3f s, %.2f us/entry\n", k, kt, kt / k * 1e6
	printf "netyard: netyard tc -s actions ls action gact, %d actions: %.3f s, %.2f us/entry\n", n, nt, nt / n * 1e6
	printf "per-entry speed, netyard / kernel = %.1f (the issue asks >= 10)\n", (kt / k) / (nt / n)
}'
awk -v n="$N" -v c="$CHANGED" -v got="$got" -v f="$full_ms" -v s="$since_ms" -v fw="$full_warm" -v sw="$since_warm" 'BEGIN {
	printf "since gen: %d of %d actions replaced, %d listed (the issue asks exactly %d)\n", c, n, got, c
	printf "  in a running client (--repeat): %.2f ms against %.1f ms for all: %.2f%% (the issue asks <= 1%%)\n", sw, fw, 100 * sw / fw
	printf "  in a fresh process each:       %.2f ms against %.1f ms for all: %.2f%%\n", s, f, 100 * s / f
}'
if [ "$BIG" -gt "$N" ]; then
	awk -v b="$BIG" -v bt="$bt" -v rss="$rss" 'BEGIN {
		printf "big:     %d actions dumped in %.2f s (the issue asks <= 3 s); daemon resident memory %.0f MiB (asks <= 1536)\n", b, bt, rss / 1024
	}'
fi
if [ -n "${ke1:-}" ] || [ -n "${ke2:-}" ]; then
	echo "equal N (kernel and netyard dumps alternating, medians of $RUNS runs each):"
	[ -z "${ke1:-}" ] || awk -v k="$ke1" -v n="$ne1" -v e="$E1" 'BEGIN {
		printf "  %7d actions: kernel %.3f s, netyard %.3f s: per-entry speed netyard / kernel = %.1f\n", e, k, n, k / n }'
	[ -z "${ke2:-}" ] || awk -v k="$ke2" -v n="$ne2" -v e="$E2" 'BEGIN {
		printf "  %7d actions: kernel %.3f s, netyard %.3f s: per-entry speed netyard / kernel = %.1f\n", e, k, n, k / n }'
fi
