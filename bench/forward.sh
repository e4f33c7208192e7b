#!/usr/bin/env bash
# Small-UDP forwarding from namespace A to namespace B through a middle
# namespace M, three ways, with the same generator in the same run:
#
#   A veth-a 10.99.0.1 <-> ma  M  mb <-> veth-b 10.99.0.2 B
#
#   bridge   M bridges ma and mb (br0)
#   mirred   M redirects ma <-> mb with kernel tc (clsact, mirred)
#   netyard  netyard runs in M, attached to ma and mb (afpacket), and
#            redirects between them with the same tc rules
#
# The generator is iperf3 (UDP, 18-byte payload: 64-byte frames with the
# FCS, -b 0), client in A, server in B. The figure is what reached B:
# veth-b's rx_packets over DURATION seconds of steady state, counted by the
# kernel, whatever the generator reports; "offered" is veth-a's
# tx_packets over the same time. The loss inside M (frames in at ma minus
# frames out at mb, whole run) is printed for each way, and netyard's own
# drop counters, since the issue wants no packet lost inside netyard below
# its capacity.
#
# On a machine with few cores, read the ratios with this in mind: bridge
# and mirred forward in the softirq of the generator's own CPU (veth
# delivers on the sender's CPU), netyard on another. Where the generator
# is the limit (received = offered for the bridge), netyard's figure can
# be the higher one because it leaves the generator more CPU.
#
# Needs root, iproute2 and iperf3 (apt-get install -y iperf3). Traffic
# stays inside the namespaces, which are named after this shell's PID and
# deleted on exit, as is the daemon.
#
# Environment: DURATION seconds per way (5), WORKERS netyard workers (1:
# with 2, ma and mb land on different workers and every frame crosses a
# backlog between them; on 2 cores shared with the generator, 1 did better),
# RUNS runs of each way, reported as the median (1), PARALLEL iperf3
# clients at once (1), RATE each client's iperf3 -b (0: as fast as it
# can; 7.2M is 50000 pps of 18-byte payloads), NETYARD a prebuilt binary
# (else built from this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-5}
WORKERS=${WORKERS:-1}
RUNS=${RUNS:-1}
PARALLEL=${PARALLEL:-1}
RATE=${RATE:-0}

if [ "$(id -u)" != 0 ]; then
	echo "forward: needs root (network namespaces, veth pairs); run it with sudo" >&2
	exit 1
fi
for tool in ip tc iperf3; do
	if ! command -v "$tool" >/dev/null; then
		case $tool in
		iperf3) echo "forward: iperf3 is missing: apt-get install -y iperf3" >&2 ;;
		*) echo "forward: $tool is missing: apt-get install -y iproute2" >&2 ;;
		esac
		exit 1
	fi
done
case $RATE in *[!0-9.KMGkmg]*) echo "forward: RATE is iperf3 -b: 0, 7200K, 7.2M..." >&2; exit 1 ;; esac
case $DURATION$WORKERS$RUNS$PARALLEL in *[!0-9]*)
	echo "forward: DURATION, WORKERS, RUNS and PARALLEL are whole numbers" >&2; exit 1 ;;
esac

A=nyfA$$ M=nyfM$$ B=nyfB$$
tmp=$(mktemp -d)
daemon=
# stop PID: SIGTERM, and SIGKILL if it has not ended within 5 s.
stop() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	[ -z "$daemon" ] || stop "$daemon"
	# A namespace's veths go with it only once no process is left in
	# it: kill what is (the iperf3s of an interrupted run) by PID.
	for n in $A $M $B; do
		pids=$(ip netns pids "$n" 2>/dev/null || true)
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
		ip netns del "$n" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=${NETYARD:-}
if [ -z "$bin" ]; then
	bin=$tmp/netyard
	CGO_ENABLED=0 go build -o "$bin" ./cmd/netyard
fi

# ip -n NS ...: "ip link set dev ma" needs "dev": a bare "ma" reads as
# "master".
setup() {
	for n in $A $M $B; do
		ip netns add "$n"
		ip -n "$n" link set dev lo up
		# No IPv6: no router solicitations or DAD crossing M during a run.
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	ip link add veth-a netns "$A" type veth peer name ma netns "$M"
	ip link add veth-b netns "$B" type veth peer name mb netns "$M"
	ip -n "$A" addr add 10.99.0.1/24 dev veth-a
	ip -n "$B" addr add 10.99.0.2/24 dev veth-b
	for l in "$A veth-a" "$M ma" "$M mb" "$B veth-b"; do
		set -- $l
		ip -n "$1" link set dev "$2" up
	done
	# Static neighbours: no ARP through M, which is not forwarding yet
	# when they would be resolved.
	local mac_a mac_b
	mac_a=$(ip netns exec "$A" cat /sys/class/net/veth-a/address)
	mac_b=$(ip netns exec "$B" cat /sys/class/net/veth-b/address)
	ip -n "$A" neigh replace 10.99.0.2 lladdr "$mac_b" dev veth-a nud permanent
	ip -n "$B" neigh replace 10.99.0.1 lladdr "$mac_a" dev veth-b nud permanent
}

# The kernel may lack cls_matchall; u32 matching zero bits of the first
# word is the classic equivalent (every packet).
kernel_match=
mirred_on() {
	ip netns exec "$M" tc qdisc add dev ma clsact
	ip netns exec "$M" tc qdisc add dev mb clsact
	if [ -z "$kernel_match" ]; then
		if ip netns exec "$M" tc filter add dev ma ingress matchall action mirred egress redirect dev mb 2>/dev/null; then
			kernel_match=matchall
		else
			kernel_match="u32 match u32 0 0"
			ip netns exec "$M" tc filter add dev ma ingress protocol all $kernel_match action mirred egress redirect dev mb
		fi
	else
		ip netns exec "$M" tc filter add dev ma ingress protocol all $kernel_match action mirred egress redirect dev mb
	fi
	ip netns exec "$M" tc filter add dev mb ingress protocol all $kernel_match action mirred egress redirect dev ma
}
mirred_off() {
	ip netns exec "$M" tc qdisc del dev ma clsact
	ip netns exec "$M" tc qdisc del dev mb clsact
}

bridge_on() {
	ip -n "$M" link add br0 type bridge
	# Forwarding from the first frame: no STP listening/learning delay.
	ip -n "$M" link set dev br0 type bridge stp_state 0 forward_delay 0
	ip -n "$M" link set dev ma master br0
	ip -n "$M" link set dev mb master br0
	ip -n "$M" link set dev br0 up
}
bridge_off() { ip -n "$M" link del br0; }

sock=$tmp/ctl.sock
nytc() { NETYARD_SOCKET=$sock timeout 10 "$bin" tc "$@"; }
netyard_on() {
	cat >"$tmp/rules.tc" <<-EOF
	dev add a type afpacket link ma
	dev add b type afpacket link mb
	qdisc add dev a clsact
	qdisc add dev b clsact
	filter add dev a ingress matchall action mirred egress redirect dev b
	filter add dev b ingress matchall action mirred egress redirect dev a
	EOF
	ip netns exec "$M" "$bin" daemon --socket "$sock" -c "$tmp/rules.tc" --workers "$WORKERS" \
		--metrics 127.0.0.1:9465 >"$tmp/daemon.log" 2>&1 &
	daemon=$!
	for _ in $(seq 50); do
		[ -S "$sock" ] && nytc dev show >/dev/null 2>&1 && return 0
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.1
	done
	local rc=0
	kill -0 "$daemon" 2>/dev/null || wait "$daemon" || rc=$?
	echo "forward: netyard daemon did not start (exit status $rc):" >&2
	cat "$tmp/daemon.log" >&2
	exit 1
}
netyard_off() {
	stop "$daemon"
	daemon=
}

# inout: ma's rx_packets and mb's tx_packets, read together from inside M
# (sysfs shows the namespace of whoever mounted it: ip netns exec does).
# Frames the bridge itself sends (br0's tx, flooded out of its ports) did
# not come in at ma: they are taken off mb's count.
inout() {
	ip netns exec "$M" sh -c 'cd /sys/class/net && cat ma/statistics/rx_packets mb/statistics/tx_packets &&
		{ cat br0/statistics/tx_packets 2>/dev/null || echo 0; }' | paste -sd ' ' | awk '{ print $1, $2 - $3 }'
}

# snap A_PID B_PID: the time in ns, veth-a's tx_packets and veth-b's
# rx_packets, read at once through /proc/PID/net/dev of a process in A and
# one in B (no "ip netns exec" between the two reads).
snap() {
	awk -v t="$(date +%s%N)" '$1 == "veth-a:" { a = $11 } $1 == "veth-b:" { b = $3 }
		END { print t, a, b }' "/proc/$1/net/dev" "/proc/$2/net/dev"
}

# run: one generator run, PARALLEL iperf3 clients at once (iperf3 3.12
# sends from one thread); prints "received_pps offered_pps lost_in_M".
# The rates are counted over DURATION seconds of steady state, after a
# second of warm-up; the loss over the whole run, after the last frame
# has drained. iperf3's own end-of-test exchange is not waited for: its
# report is not the measure, and its TCP control connection crosses M.
# The iperf3s end by SIGKILL: iperf3 3.12 can hang in its SIGTERM handler
# (seen here: a client killed mid-stream stuck for minutes). "ip netns
# exec" execs, so $! is iperf3 itself.
run() {
	local i port srv=() cli=() t0 t1 a0 a1 b0 b1 mi0 mi1 mo0 mo1
	for i in $(seq 0 $((PARALLEL - 1))); do
		port=$((5201 + i))
		ip netns exec "$B" iperf3 -s -1 -p $port >"$tmp/server.$i" 2>&1 &
		srv+=($!)
		for _ in $(seq 50); do
			ip netns exec "$B" ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
			sleep 0.1
		done
	done
	read -r mi0 mo0 < <(inout)
	for i in $(seq 0 $((PARALLEL - 1))); do
		ip netns exec "$A" iperf3 -c 10.99.0.2 -p $((5201 + i)) \
			-u -l 18 -b "$RATE" -t $((DURATION + 2)) >"$tmp/client.$i" 2>&1 &
		cli+=($!)
	done
	sleep 1
	read -r t0 a0 b0 < <(snap "${cli[0]}" "${srv[0]}")
	sleep "$DURATION"
	read -r t1 a1 b1 < <(snap "${cli[0]}" "${srv[0]}")
	for i in "${!cli[@]}"; do
		if ! kill -0 "${cli[$i]}" 2>/dev/null; then
			echo "forward: iperf3 client $i ended before the measurement did:" >&2
			cat "$tmp/client.$i" "$tmp/server.$i" >&2
			exit 1
		fi
	done
	kill -KILL "${cli[@]}" "${srv[@]}" 2>/dev/null || true
	wait "${cli[@]}" "${srv[@]}" 2>/dev/null || true
	sleep 0.2 # frames still in M's queues and rings
	read -r mi1 mo1 < <(inout)
	awk -v b=$((b1 - b0)) -v a=$((a1 - a0)) -v l=$(((mi1 - mi0) - (mo1 - mo0))) -v ns=$((t1 - t0)) \
		'BEGIN { printf "%d %d %d\n", b / ns * 1e9, a / ns * 1e9, l }'
}

# median [FIELD]: the median of a field (default 1) of the lines on stdin.
median() {
	awk -v f="${1:-1}" '{ print $f }' | sort -n |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR+1)/2] : int((v[NR/2] + v[NR/2+1]) / 2) }'
}

# scrape: the datapath's drop counters from the daemon's metrics: its
# device RX rings (between a backend's receive goroutine and the worker),
# backlogs (a redirect to a device another worker owns), loops.
scrape() {
	# HTTP/1.0 by hand (bash's /dev/tcp): no curl needed.
	ip netns exec "$M" timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9465 &&
		printf "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 && cat <&3' 2>/dev/null |
		awk '/^netyard_device_(rx_dropped|tx_dropped|backlog_drops|loop_drops)_total/' || true
}

setup
# The ways take turns within a round, so that a change in the machine's
# load during the run falls on all three alike.
: >"$tmp/devs.all"; : >"$tmp/metrics.all"
for _ in $(seq "$RUNS"); do
	for way in bridge mirred netyard; do
		"${way}_on"
		run >>"$tmp/pps.$way"
		if [ $way = netyard ]; then
			nytc -s dev show >"$tmp/devs"
			scrape >"$tmp/metrics"
			[ -s "$tmp/metrics" ] || echo "forward: could not read the daemon's metrics; its datapath drops are not counted" >&2
			cat "$tmp/devs" >>"$tmp/devs.all"
			cat "$tmp/metrics" >>"$tmp/metrics.all"
		fi
		"${way}_off"
	done
done

br=$(median <"$tmp/pps.bridge"); mi=$(median <"$tmp/pps.mirred"); ny=$(median <"$tmp/pps.netyard")
# netyard's own drops, all runs: the backends' (pool empty, kernel
# tp_drops: its AF_PACKET ring full, TX ring full) from "tc -s dev show",
# and the datapath's from its metrics.
dev_drops=$(awk '{ for (i = 2; i <= NF; i++) if ($i == "dropped") s += $(i-1) } END { print s + 0 }' "$tmp/devs.all")
dp_drops=$(awk '{ s += $NF } END { print s + 0 }' "$tmp/metrics.all")

runs="one run"; [ "$RUNS" -gt 1 ] && runs="median of $RUNS runs"
echo "forward: 64-byte UDP frames (iperf3 -u -l 18 -b $RATE), A -> M -> B, ${DURATION} s each, $runs"
echo "  mirred filter: $kernel_match; netyard --workers $WORKERS"
for way in bridge mirred netyard; do
	printf '%-8s %8d pps (offered %d; lost in M, all runs: %d)\n' "$way:" "$(median <"$tmp/pps.$way")" \
		"$(median 2 <"$tmp/pps.$way")" "$(awk '{ s += $3 } END { print s + 0 }' "$tmp/pps.$way")"
done
echo "drops inside netyard (all runs): $((dev_drops + dp_drops)) ($dev_drops at its backends, $dp_drops in its datapath); last run:"
sed 's/^/  /' "$tmp/devs"
sed -e '/ 0$/d' -e 's/^/  /' "$tmp/metrics"
awk -v r="$(median 2 <"$tmp/pps.bridge")" -v b="$br" 'BEGIN { if (b >= 0.99 * r) print "note: the bridge forwarded all it was offered: its figure is the generator'"'"'s rate, not its capacity" }'
echo "ratio netyard/bridge = $(ratio "$ny" "$br") (the issue asks >= 0.8)"
echo "ratio netyard/mirred = $(ratio "$ny" "$mi")"
