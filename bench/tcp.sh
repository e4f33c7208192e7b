#!/usr/bin/env bash
# One TCP stream (iperf3) from namespace A to namespace B through a middle
# namespace M, with the offloads the veths come with (TSO, GSO, GRO on: the
# defaults users have), each way measured in the same run, ways alternated
# round by round so that drift in a shared machine's speed lands on all of
# them alike (issue 16, item 3: "TCP with default offloads through netyard
# >= 50% of the bridge's throughput"):
#
#   A veth-a 10.98.0.1 <-> ma  M  mb <-> veth-b 10.98.0.2 B
#
#   bridge    M bridges ma and mb (br0)
#   mirred    M redirects ma <-> mb with kernel tc (clsact, mirred)
#   afpacket  netyard in M, `dev add ... type afpacket` (PACKET_VNET_HDR:
#             GSO frames cross whole, the kernel segments them on the way
#             out), 1 worker, mirred between its two devices
#   xdp       the same with `type xdp` (native XDP on a veth turns the
#             peer's software GSO off, so A sends MTU-sized segments)
#
# M's work is on CPU FWD_CPU for every way: the netyard daemon is pinned
# there, and RPS steers the receive processing of ma, mb and veth-b there
# (as bench/forward.sh does), so the kernel's ways forward there too and
# not in the softirq of the sender's CPU. iperf3's client and server run
# on CPU GEN_CPU. Per run: Mbit/s received (iperf3's end.sum_received),
# the sender's retransmissions and, for netyard's afpacket way, the frames
# its load shedding dropped (netyard_device_backend_drops_total{where=
# "shed"}: while the XDP program is attached the sender has no software
# GSO); per way the median over ROUNDS, and its ratio to the bridge's
# median.
#
# Needs root, iproute2 and iperf3 (apt-get install -y iperf3). Traffic
# stays inside the namespaces, which are named after this shell's PID and
# deleted on exit, as is the daemon.
#
# Environment: ROUNDS (3), DURATION seconds a run (5), WAYS (bridge mirred
# afpacket xdp), GEN_CPU (0), FWD_CPU (1), NICE (-10: the daemon's and
# iperf3's nice value, each in a session of its own, as in forward.sh),
# NETYARD a prebuilt binary (else built from this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WAYS=${WAYS:-"bridge mirred afpacket xdp"}
GEN_CPU=${GEN_CPU:-0}
FWD_CPU=${FWD_CPU:-1}
NICE=${NICE:--10}

if [ "$(id -u)" != 0 ]; then
	echo "tcp: needs root (network namespaces, veth pairs); run it with sudo" >&2
	exit 1
fi
for tool in ip tc taskset iperf3 python3; do
	command -v "$tool" >/dev/null || { echo "tcp: $tool is missing (apt-get install -y iproute2 util-linux iperf3 python3)" >&2; exit 1; }
done
case $ROUNDS$DURATION$GEN_CPU$FWD_CPU in *[!0-9]*)
	echo "tcp: ROUNDS, DURATION, GEN_CPU and FWD_CPU are whole numbers" >&2; exit 1 ;;
esac
case $NICE in -[0-9] | -1[0-9] | -20 | [0-9] | 1[0-9]) ;; *) echo "tcp: NICE is -20..19" >&2; exit 1 ;; esac
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] || { echo "tcp: ROUNDS and DURATION must be >= 1" >&2; exit 1; }
[ "$GEN_CPU" != "$FWD_CPU" ] || { echo "tcp: GEN_CPU and FWD_CPU must differ" >&2; exit 1; }
for c in "$GEN_CPU" "$FWD_CPU"; do
	grep -q "^cpu$c " /proc/stat || { echo "tcp: no CPU $c" >&2; exit 1; }
done
for way in $WAYS; do
	case $way in bridge | mirred | afpacket | xdp) ;; *) echo "tcp: unknown way $way (bridge mirred afpacket xdp)" >&2; exit 1 ;; esac
done

A=nytA$$ M=nytM$$ B=nytB$$
tmp=$(mktemp -d)
daemon= server=
cleanup() {
	[ -z "$daemon" ] || stop "$daemon"
	[ -z "$server" ] || stop "$server"
	netns_del $A $M $B
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=$(netyard_bin "$tmp")

mask=$(printf '%x' $((1 << FWD_CPU)))
for n in $A $M $B; do
	ip netns add "$n"
	ip -n "$n" link set dev lo up
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip link add veth-a netns "$A" type veth peer name ma netns "$M"
ip link add veth-b netns "$B" type veth peer name mb netns "$M"
ip -n "$A" addr add 10.98.0.1/24 dev veth-a
ip -n "$B" addr add 10.98.0.2/24 dev veth-b
for l in "$A veth-a" "$M ma" "$M mb" "$B veth-b"; do
	set -- $l
	ip -n "$1" link set dev "$2" up
done
ip netns exec "$M" sh -c "for f in /sys/class/net/ma/queues/rx-*/rps_cpus /sys/class/net/mb/queues/rx-*/rps_cpus; do echo $mask >\$f; done"
ip netns exec "$B" sh -c "for f in /sys/class/net/veth-b/queues/rx-*/rps_cpus; do echo $mask >\$f; done"

bridge_on() { bridge_add "$M" ma mb; }
bridge_off() { ip -n "$M" link del br0; }
mirred_on() {
	ip netns exec "$M" tc qdisc add dev ma clsact
	ip netns exec "$M" tc qdisc add dev mb clsact
	# u32 matching zero bits: every frame (kernels without cls_matchall
	# have it too).
	ip netns exec "$M" tc filter add dev ma ingress protocol all u32 match u32 0 0 action mirred egress redirect dev mb
	ip netns exec "$M" tc filter add dev mb ingress protocol all u32 match u32 0 0 action mirred egress redirect dev ma
}
mirred_off() {
	ip netns exec "$M" tc qdisc del dev ma clsact
	ip netns exec "$M" tc qdisc del dev mb clsact
}
sock=$tmp/ctl.sock
daemon_on() {
	cat >"$tmp/rules.tc" <<-EOF
	dev add a type $1 link ma
	dev add b type $1 link mb
	qdisc add dev a clsact
	qdisc add dev b clsact
	filter add dev a ingress matchall action mirred egress redirect dev b
	filter add dev b ingress matchall action mirred egress redirect dev a
	EOF
	rm -f "$sock"
	own ip netns exec "$M" nice -n "$NICE" taskset -c "$FWD_CPU" "$bin" daemon --socket "$sock" -c "$tmp/rules.tc" --metrics 127.0.0.1:9465 >"$tmp/daemon.log" 2>&1 &
	daemon=$!
	for _ in $(seq 50); do
		[ -S "$sock" ] && NETYARD_SOCKET=$sock timeout 10 "$bin" tc dev show >/dev/null 2>&1 && return 0
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.1
	done
	echo "tcp: the daemon did not start:" >&2
	cat "$tmp/daemon.log" >&2
	exit 1
}
daemon_off() {
	stop "$daemon"
	daemon=
}
afpacket_on() { daemon_on afpacket; }
afpacket_off() { daemon_off; }
xdp_on() { daemon_on xdp; }
xdp_off() { daemon_off; }

own ip netns exec "$B" nice -n "$NICE" taskset -c "$GEN_CPU" iperf3 -s -B 10.98.0.2 >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do
	ip netns exec "$B" sh -c 'cat /proc/net/tcp' | awk '$4 == "0A" && $2 ~ /:1451$/ { f = 1 } END { exit !f }' && break
	sleep 0.1
done

# run: one iperf3 client run, in a session of its own like the server's;
# prints "Mbit/s retransmits".
run() {
	own ip netns exec "$A" nice -n "$NICE" taskset -c "$GEN_CPU" iperf3 -c 10.98.0.2 -t "$DURATION" -J >"$tmp/client.json" 2>&1 &
	wait $! || {
		echo "tcp: iperf3 failed:" >&2
		head -c 2000 "$tmp/client.json" >&2
		exit 1
	}
	python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))["end"]
print("%.0f %d" % (e["sum_received"]["bits_per_second"] / 1e6, e["sum_sent"].get("retransmits", 0)))' "$tmp/client.json"
}
# shed: the frames netyard's afpacket ports shed in the run (while their
# XDP program is attached, A's veth has no software GSO: veth_xdp_set),
# from the daemon's metrics; "-" for the other ways (the xdp backend does
# not shed).
shed() {
	[ "$1" = afpacket ] || { echo -; return; }
	ip netns exec "$M" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9465 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' |
		awk '/^netyard_device_backend_drops_total/ && /where="shed"/ { s += $2 } END { printf "%d\n", s }'
}

echo "tcp: one iperf3 stream A -> M -> B, default offloads, ${DURATION} s a run, $ROUNDS rounds, ways alternating; M on CPU $FWD_CPU, iperf3 on CPU $GEN_CPU; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
for round in $(seq "$ROUNDS"); do
	for way in $WAYS; do
		"${way}_on"
		r=$(run) # its own line: a failed run stops the script (set -e)
		r="$r $(shed "$way")"
		"${way}_off"
		echo "$r" >>"$tmp/runs.$way"
		printf '  round %d %-9s %6s Mbit/s  %s retransmits  %s frames shed\n' "$round" "$way" $r
	done
done

echo
printf '%-9s %10s %12s %s\n' way "Mbit/s" "/ bridge" "(runs)"
base=
[ ! -f "$tmp/runs.bridge" ] || base=$(awk '{ print $1 }' "$tmp/runs.bridge" | median)
for way in $WAYS; do
	m=$(awk '{ print $1 }' "$tmp/runs.$way" | median)
	rel=-
	[ -z "$base" ] || rel=$(ratio "$m" "$base")
	printf '%-9s %10.0f %12s (%s)\n' "$way" "$m" "$rel" "$(awk '{ printf "%s%s Mbit/s %s rtx %s shed", (NR > 1 ? ", " : ""), $1, $2, $3 }' "$tmp/runs.$way")"
done
