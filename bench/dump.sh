#!/usr/bin/env bash
# Statistics dumps, the kernel against netyard, in one run (the statistics
# issue's figure). Needs root and iproute2: it creates a network namespace,
# adds K mirred actions there (default 100000) and times
# `tc -s actions ls action mirred`; then starts `netyard daemon` on a
# private socket, adds N gact actions (default 1000000) and times
# `netyard tc -s actions ls action gact`. Both outputs go to /dev/null.
# Prints the time per entry of each, the ratio, and the daemon's resident
# memory. Cleans up the namespace and the daemon on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${K:-100000}
N=${N:-1000000}
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
now() { date +%s.%N; }

# The kernel.
ip netns add "$ns"
ip -n "$ns" link set lo up
awk -v n="$K" 'BEGIN { for (i = 1; i <= n; i++) printf "actions add action mirred egress redirect dev lo index %d\n", i }' >"$tmp/k.batch"
tc -n "$ns" -b "$tmp/k.batch"
t0=$(now)
tc -n "$ns" -s actions ls action mirred >/dev/null
t1=$(now)

# netyard.
go build -o "$tmp/netyard" ./cmd/netyard
export NETYARD_SOCKET="$tmp/ctl.sock"
"$tmp/netyard" daemon --dev eth0 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 50); do [ -S "$NETYARD_SOCKET" ] && break; sleep 0.1; done
chunk=20000 # a batch is sent whole; keep each under the 1 MiB request cap
for ((s = 1; s <= N; s += chunk)); do
	awk -v a="$s" -v b="$((s + chunk - 1 < N ? s + chunk - 1 : N))" \
		'BEGIN { for (i = a; i <= b; i++) printf "actions add action gact pass index %d\n", i }' >"$tmp/n.batch"
	"$tmp/netyard" tc -b "$tmp/n.batch"
done
t2=$(now)
"$tmp/netyard" tc -s actions ls action gact >/dev/null
t3=$(now)
rss=$(ps -o rss= -p "$daemon")

awk -v k="$K" -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v rss="$rss" 'BEGIN {
	kt = b - a; nt = d - c
	printf "kernel:  %d mirred actions dumped in %.3f s: %.2f us/entry\n", k, kt, kt / k * 1e6
	printf "netyard: %d gact actions dumped in %.3f s: %.2f us/entry\n", n, nt, nt / n * 1e6
	printf "per-entry speed, netyard / kernel = %.2f (the issue asks >= 10)\n", (kt / k) / (nt / n)
	printf "netyard daemon resident memory: %.0f MiB\n", rss / 1024
}'
