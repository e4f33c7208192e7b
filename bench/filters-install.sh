#!/usr/bin/env bash
# bench/filters-install.sh: filter installs, the kernel against netyard, in one run (issue 14's
# "filters: install" figures). Needs root and iproute2.
#
#  1. install_kernel: K flower filters (default 100000; one mask, distinct
#     dst_ip, each with its own gact) with `tc -b` on a dummy device in a
#     network namespace this script creates: the oracle.
#  2. install_batch: `netyard daemon` on a private socket; N such filters
#     (default 1000000) from one `netyard tc -b` (streamed in chunks);
#     filters per second and the daemon's resident memory per filter.
#  3. install_replace: the N filters replaced from one batch (new gact each).
#  4. install_delete: the N filters deleted from one batch, one line each.
#  5. install_parallel: N filters from 10 parallel `netyard tc -b` clients
#     (a tenth each), then deleted the same way.
#
# One run each. Each scenario is a function of its own; other sections
# (dumps) can be added beside them. Cleans up the namespace and the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
K=${K:-100000}
N=${N:-1000000}
if [ "$(id -u)" != 0 ]; then
	echo "filters-install.sh: needs root (a network namespace for the kernel's side)" >&2
	exit 1
fi
tmp=$(mktemp -d)
ns=nyfilt$$
cleanup() {
	[ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
# elapsed A B: seconds from A to B
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# lines VERB FROM TO [DEV]: flower filter commands for handles FROM..TO,
# dst_ip 10.x.y.z from the handle, each with its own gact
lines() {
	awk -v verb="$1" -v a="$2" -v b="$3" -v dev="${4:-eth0}" 'BEGIN {
		for (i = a; i <= b; i++) {
			if (verb == "del")
				printf "filter del dev %s ingress prio 1 handle %d flower\n", dev, i
			else
				printf "filter %s dev %s ingress prio 1 handle %d protocol ip flower dst_ip 10.%d.%d.%d action gact %s\n", verb, dev, i, int(i / 65536) % 256, int(i / 256) % 256, i % 256, (verb == "add" ? "drop" : "pass")
		}
	}'
}
report() { # report WHAT COUNT SECONDS
	awk -v w="$1" -v n="$2" -v s="$3" 'BEGIN { printf "%-48s %9d filters %8.2f s %10.0f filters/s\n", w, n, s, (s > 0 ? n / s : 0) }'
}
rss_kib() { ps -o rss= -p "$daemon" | tr -d ' '; }
# cpu_s: the daemon's CPU time so far (user + system), in seconds; on a
# shared machine it says more than the wall time does
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$daemon/stat"; }
# cpu_since C0: the daemon's CPU seconds since cpu_s said C0
cpu_since() { awk -v a="$1" -v b="$(cpu_s)" 'BEGIN { printf "    daemon CPU %.2f s\n", b - a }'; }

install_kernel() {
	ip netns add "$ns"
	local what="dummy0"
	if ! ip -n "$ns" link add dummy0 type dummy 2>/dev/null; then
		# No dummy module (a container): a veth end does as well.
		ip -n "$ns" link add dummy0 type veth peer name dummy1
		what="dummy0, a veth: no dummy module"
	fi
	ip -n "$ns" link set dummy0 up
	tc -n "$ns" qdisc add dev dummy0 clsact
	lines add 1 "$K" dummy0 >"$tmp/k.batch"
	local a b
	if ! tc -n "$ns" filter add dev dummy0 ingress prio 1 handle 999999999 protocol ip flower dst_ip 192.0.2.1 action gact drop 2>"$tmp/k.err"; then
		echo "kernel: no flower classifier here ($(head -1 "$tmp/k.err"); modprobe cls_flower): the oracle is skipped"
		ip netns del "$ns"
		return
	fi
	a=$(now)
	tc -n "$ns" -b "$tmp/k.batch"
	b=$(now)
	report "kernel tc -b ($what)" "$K" "$(elapsed "$a" "$b")"
	ip netns del "$ns"
}

start_daemon() {
	go build -o "$tmp/netyard" ./cmd/netyard
	export NETYARD_SOCKET="$tmp/ctl.sock"
	"$tmp/netyard" daemon --dev eth0 2>"$tmp/daemon.log" &
	daemon=$!
	for _ in $(seq 50); do [ -S "$NETYARD_SOCKET" ] && break; sleep 0.1; done
}

# timed WHAT COUNT BATCHFILE: one netyard tc -b, timed
timed() {
	local a b c
	c=$(cpu_s)
	a=$(now)
	"$tmp/netyard" tc -b "$3"
	b=$(now)
	report "$1" "$2" "$(elapsed "$a" "$b")"
	cpu_since "$c"
}

install_batch() {
	local before after
	before=$(rss_kib)
	lines add 1 "$N" >"$tmp/add.batch"
	timed "netyard tc -b: add" "$N" "$tmp/add.batch"
	after=$(rss_kib)
	awk -v n="$N" -v a="$before" -v b="$after" 'BEGIN {
		printf "daemon resident memory: %.0f MiB before, %.0f MiB after: %.0f bytes/filter\n", a / 1024, b / 1024, (b - a) * 1024 / n }'
}

install_replace() {
	lines replace 1 "$N" >"$tmp/replace.batch"
	timed "netyard tc -b: replace" "$N" "$tmp/replace.batch"
}

install_delete() {
	lines del 1 "$N" >"$tmp/del.batch"
	timed "netyard tc -b: delete" "$N" "$tmp/del.batch"
}

# parallel VERB: 10 clients, each a tenth of 1..N, at once
parallel() {
	local k per a b c
	per=$(((N + 9) / 10))
	for k in $(seq 0 9); do
		lines "$1" $((k * per + 1)) $(((k + 1) * per < N ? (k + 1) * per : N)) >"$tmp/p$k.batch"
	done
	c=$(cpu_s)
	a=$(now)
	for k in $(seq 0 9); do "$tmp/netyard" tc -b "$tmp/p$k.batch" & done
	wait $(jobs -p | grep -v "^$daemon\$")
	b=$(now)
	report "netyard tc -b, 10 parallel clients: $1" "$N" "$(elapsed "$a" "$b")"
	cpu_since "$c"
}

install_parallel() {
	parallel add
	local got
	got=$("$tmp/netyard" tc filter show dev eth0 ingress | grep -c "^filter protocol ip pref 1 flower chain 0 handle" || true)
	echo "filters listed after the parallel add: $got (want $N)"
	parallel del
}

echo "filters-install.sh: K=$K N=$N, one run each, $(nproc) CPUs"
install_kernel
start_daemon
install_batch
install_replace
install_delete
install_parallel
