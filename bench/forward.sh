#!/usr/bin/env bash
# Small-UDP forwarding from namespace A to namespace B through a middle
# namespace M, each way measured in the same run with the same generator,
# at a sweep of offered rates, to find each way's capacity and what it
# does beyond it:
#
#   A veth-a 10.99.0.1 <-> ma  M  mb <-> veth-b 10.99.0.2 B
#
#   bridge    M bridges ma and mb (br0)
#   mirred    M redirects ma <-> mb with kernel tc (clsact, mirred)
#   netyard   netyard runs in M, attached to ma and mb (afpacket, 1 worker),
#             and redirects between them with the same tc rules
#   netyard2  the same with --workers 2
#   xdp       netyard with `dev add ... type xdp`, when the binary has it
#             (detected: a daemon that refuses the device skips the way)
#   xdp2      the same with --workers 2, the daemon on FWD_CPU and GEN_CPU
#             (this machine has no third CPU: the second worker shares the
#             generator's); with QUEUES=2 each device's two queues are
#             polled by the two workers
#
# The generator is `netyard gen` in A (60-byte frames: 64 on the wire,
# sendmmsg on an AF_PACKET socket, qdisc bypassed), on CPU GEN_CPU. All of
# M's work is on CPU FWD_CPU: the netyard daemon is pinned there
# (taskset), and RPS steers the receive processing of ma, mb and veth-b
# there, so the kernel's ways forward there too and not in the softirq of
# the generator's CPU (veth delivers on the sender's CPU by default). The
# frames are addressed to a MAC that is not veth-b's, so B's kernel drops
# them at once (PACKET_OTHERHOST) after counting them: what B costs is the
# same for every way and small.
#
# Per point: gen offers RATE for DURATION seconds. Offered and delivered
# are veth-a's TX and veth-b's RX counters, read together at the start and
# the end of the middle DURATION-2 seconds by a reader in a session of its
# own at the NICE priority (one in the script's session waited behind the
# generator and the daemon when both CPUs were busy, and its window
# stretched past the generator's end: diluted rates); `netyard gen
# --count-rx veth-b` counts the same window independently, as a
# cross-check, and a window that ends late (near or past the generator's
# end) is said.
# The loss is 1 - delivered/offered; "in M" is what went into ma and did
# not come out of mb over the whole point. netyard's drops are `dev show`'s
# RX/TX dropped, which already include its kernel ring, device ring and
# backlog drops: each drop is counted once.
#
# Rounds: ROUNDS (3) rounds; in each, every rate is measured on every way
# in turn (each point on a way set up afresh: a daemon started for it),
# so that the points compared are seconds apart and drift in the shared
# machine's speed lands on all ways alike (with whole sweeps in turn,
# half a minute apart, the generator's own rate moved between one way's
# sweep and the next: 634k pps offered at one way's top point, 705k at
# the next way's); figures are medians over the rounds. Then an
# overload phase: each way at 3x its capacity (the median over the rounds
# of its best delivered rate), ROUNDS times, ways alternating.
#
# CPU per delivered packet at 100k pps, in a phase of its own (CPU_SECONDS
# of counting, ways alternating, ROUNDS times): FWD_CPU's busy time over
# the counting window, less the same CPU's busy time in a quiet 2 s window
# just before (other jobs on a shared machine: printed as the background
# load), divided by the packets delivered; and for netyard the daemon's
# own CPU time (its threads' schedstat, which includes the softirqs that
# ran in its system calls) per packet. Busy time is wall time less idle
# time (which NO_HZ kernels measure exactly), not the user/system/softirq
# fields of /proc/stat: those are sampled at the scheduler tick, which
# gives the whole tick to whatever runs when it fires, and misjudge a CPU
# that wakes and sleeps a hundred thousand times a second (the tick
# figure is printed beside the exact one). Every sweep point also shows
# FWD_CPU's and GEN_CPU's busy share: a way whose delivered rate stops
# growing while FWD_CPU is not saturated and GEN_CPU is, is limited by the
# generator (native XDP on a veth receives on the sender's CPU), and the
# summary says what rate a whole FWD_CPU would forward at the cost measured.
#
# A way fails when it loses more than 1% at an offered rate below its
# capacity; the script exits 1 if one does.
#
# Needs root and iproute2; the kernel needs veth and, for mirred, tc's
# clsact and act_mirred (matchall or u32). Traffic stays inside the
# namespaces, which are named after this shell's PID and deleted on exit,
# as is the daemon.
#
# Environment: DURATION seconds per point (4), CPU_SECONDS (5), ROUNDS (3), RATES offered
# rates (gen --rate syntax), WAYS (bridge mirred netyard netyard2 xdp),
# GEN_CPU (0), FWD_CPU (1), RPS (1; 0 leaves the receive processing of
# M's and B's veths on the sender's CPU, the veth default: then the
# kernel's ways forward on the generator's CPU, and AF_PACKET's copy into
# netyard's ring happens there too), NICE (-10: the daemon's nice value;
# the kernel's ways forward in softirqs, which preempt every process, so
# on a shared machine only netyard would lose CPU to other jobs on its
# CPU; -10 gives it about 90% against one job of nice 0, as a forwarder
# on a core of its own would have; the generator gets it too. Each runs
# in a session of its own (setsid) whose autogroup has that nice: with
# CONFIG_SCHED_AUTOGROUP, on in most distributions' kernels, a nice value
# only orders the tasks of one session, and every session gets an equal
# share of a CPU; with the daemon and the generator in the script's
# session, a fuzzer of another session on FWD_CPU left the daemon a third
# of it, whatever its nice, and the xdp way lost 55-78% at 800k pps),
# NETYARD a prebuilt binary (else built from
# this tree), SLOW_RULES (0: N flower filters that never match, one prio
# each, in front of netyard's matchall on both devices: N hash probes more
# a frame, a costlier rule set that lowers netyard's capacity so that 3x
# it is within the generator's reach; the kernel's ways are unchanged),
# QUEUES (1: the veths' queue count, RPS on each of M's and B's RX
# queues, the xdp devices with `queues QUEUES`, and above 1 the generator
# sends 64 flows, which A's veth spreads over its TX queues and so over
# M's RX queues),
# DEV_OPTS (words added to the afpacket ways' `dev add`: "shed off" runs
# them without load shedding, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-4}
CPU_SECONDS=${CPU_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
RATES=${RATES:-"100k 200k 400k 600k 800k 1.2M"}
WAYS=${WAYS:-"bridge mirred netyard netyard2 xdp"}
GEN_CPU=${GEN_CPU:-0}
RPS=${RPS:-1}
NICE=${NICE:--10}
FWD_CPU=${FWD_CPU:-1}
SLOW_RULES=${SLOW_RULES:-0}
QUEUES=${QUEUES:-1}

if [ "$(id -u)" != 0 ]; then
	echo "forward: needs root (network namespaces, veth pairs); run it with sudo" >&2
	exit 1
fi
for tool in ip tc taskset; do
	command -v "$tool" >/dev/null || { echo "forward: $tool is missing (apt-get install -y iproute2 util-linux)" >&2; exit 1; }
done
case $RPS in 0 | 1) ;; *) echo "forward: RPS is 0 or 1" >&2; exit 1 ;; esac
case $NICE in -[0-9] | -1[0-9] | -20 | [0-9] | 1[0-9]) ;; *) echo "forward: NICE is -20..19" >&2; exit 1 ;; esac
case $DURATION$CPU_SECONDS$ROUNDS$GEN_CPU$FWD_CPU$SLOW_RULES$QUEUES in *[!0-9]*)
	echo "forward: DURATION, ROUNDS, GEN_CPU, FWD_CPU, SLOW_RULES and QUEUES are whole numbers" >&2; exit 1 ;;
esac
[ "$QUEUES" -ge 1 ] && [ "$QUEUES" -le 16 ] || { echo "forward: QUEUES is 1..16" >&2; exit 1; }
[ "$SLOW_RULES" -le 1000 ] || { echo "forward: SLOW_RULES is at most 1000" >&2; exit 1; }
[ "$DURATION" -ge 3 ] && [ "$CPU_SECONDS" -ge 1 ] || { echo "forward: DURATION must be >= 3 (1 s warm-up, 1 s drain), CPU_SECONDS >= 1" >&2; exit 1; }
[ "$GEN_CPU" != "$FWD_CPU" ] || { echo "forward: GEN_CPU and FWD_CPU must differ" >&2; exit 1; }
for c in "$GEN_CPU" "$FWD_CPU"; do
	grep -q "^cpu$c " /proc/stat || { echo "forward: no CPU $c" >&2; exit 1; }
done
window=$((DURATION - 2))
hz=$(getconf CLK_TCK)

A=nyfA$$ M=nyfM$$ B=nyfB$$
tmp=$(mktemp -d)
daemon=
cleanup() {
	[ -z "$daemon" ] || stop "$daemon"
	netns_del $A $M $B
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin=$(netyard_bin "$tmp")

mask=$(printf '%x' $((1 << FWD_CPU)))
setup() {
	for n in $A $M $B; do
		ip netns add "$n"
		ip -n "$n" link set dev lo up
		# No IPv6: no router solicitations or DAD crossing M during a run.
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	local q="numtxqueues $QUEUES numrxqueues $QUEUES"
	ip link add veth-a netns "$A" $q type veth peer name ma netns "$M" $q
	ip link add veth-b netns "$B" $q type veth peer name mb netns "$M" $q
	ip -n "$A" addr add 10.99.0.1/24 dev veth-a
	ip -n "$B" addr add 10.99.0.2/24 dev veth-b
	for l in "$A veth-a" "$M ma" "$M mb" "$B veth-b"; do
		set -- $l
		ip -n "$1" link set dev "$2" up
	done
	# M's receive processing (and B's) on the forwarder's CPU.
	if [ "$RPS" = 1 ]; then
		ip netns exec "$M" sh -c "for f in /sys/class/net/ma/queues/rx-*/rps_cpus /sys/class/net/mb/queues/rx-*/rps_cpus; do echo $mask >\$f; done"
		ip netns exec "$B" sh -c "for f in /sys/class/net/veth-b/queues/rx-*/rps_cpus; do echo $mask >\$f; done"
	fi
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

bridge_on() { bridge_add "$M" ma mb; }
bridge_off() { ip -n "$M" link del br0; }

sock=$tmp/ctl.sock
nytc() { NETYARD_SOCKET=$sock timeout 10 "$bin" tc "$@"; }
# daemon_on TYPE WORKERS [CPUS]: netyard in M, pinned to CPUS (FWD_CPU);
# returns 1 when the daemon does not start (a backend this binary or
# kernel lacks).
daemon_on() {
	local opts=
	[ "$1" != xdp ] || opts=" queues $QUEUES"
	[ "$1" != afpacket ] || opts=${DEV_OPTS:+ $DEV_OPTS}
	cat >"$tmp/rules.tc" <<-EOF
	dev add a type $1 link ma$opts
	dev add b type $1 link mb$opts
	qdisc add dev a clsact
	qdisc add dev b clsact
	EOF
	# SLOW_RULES: filters that never match the UDP frames, one prio each
	# (each costs a hash probe), before the matchall (prio 1001).
	for i in $(seq "$SLOW_RULES"); do
		echo "filter add dev a ingress prio $i protocol ip flower ip_proto tcp dst_port $i action drop"
		echo "filter add dev b ingress prio $i protocol ip flower ip_proto tcp dst_port $i action drop"
	done >>"$tmp/rules.tc"
	cat >>"$tmp/rules.tc" <<-EOF
	filter add dev a ingress prio 1001 matchall action mirred egress redirect dev b
	filter add dev b ingress prio 1001 matchall action mirred egress redirect dev a
	EOF
	rm -f "$sock"
	own ip netns exec "$M" nice -n "$NICE" taskset -c "${3:-$FWD_CPU}" "$bin" daemon --socket "$sock" -c "$tmp/rules.tc" --workers "$2" >"$tmp/daemon.log" 2>&1 &
	daemon=$!
	for _ in $(seq 50); do
		[ -S "$sock" ] && nytc dev show >/dev/null 2>&1 && return 0
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.1
	done
	stop "$daemon"
	daemon=
	return 1
}
daemon_off() {
	stop "$daemon"
	daemon=
}
netyard_on() { daemon_on afpacket 1 || { cat "$tmp/daemon.log" >&2; exit 1; }; }
netyard_off() { daemon_off; }
netyard2_on() { daemon_on afpacket 2 || { cat "$tmp/daemon.log" >&2; exit 1; }; }
netyard2_off() { daemon_off; }
xdp_on() { daemon_on xdp 1; }
xdp_off() { daemon_off; }
xdp2_on() { daemon_on xdp 2 "$GEN_CPU,$FWD_CPU" || { cat "$tmp/daemon.log" >&2; exit 1; }; }
xdp2_off() { daemon_off; }

# inout: ma's rx_packets and mb's tx_packets (inside M), less what the
# bridge itself sent out of mb.
inout() {
	ip netns exec "$M" sh -c 'cd /sys/class/net && cat ma/statistics/rx_packets mb/statistics/tx_packets &&
		{ cat br0/statistics/tx_packets 2>/dev/null || echo 0; }' | paste -sd ' ' | awk '{ print $1, $2 - $3 }'
}
# snap GEN_PID RX_PID: the time in ns, veth-a's tx_packets and veth-b's
# rx_packets, read at once through /proc/PID/net/dev of a process in A
# and one in B. Shell builtins only (EPOCHREALTIME, read): the time is
# taken in the process that reads the counters, just before; with `date`
# and awk, two processes, a loaded CPU put up to half a second between
# the time and the read (a mirred point "delivered" 1.19M pps).
snap() {
	local t=${EPOCHREALTIME//[!0-9]/} l a= b=
	local -a f
	while read -r l; do
		[ "${l%%:*}" = veth-a ] && { f=(${l#*:}); a=${f[9]}; }
	done <"/proc/$1/net/dev"
	while read -r l; do
		[ "${l%%:*}" = veth-b ] && { f=(${l#*:}); b=${f[1]}; }
	done <"/proc/$2/net/dev"
	echo "${t}000 $a $b"
}
# cpus: the time in ns, then FWD_CPU's and GEN_CPU's busy jiffies (user
# nice system irq softirq steal) and idle jiffies (idle iowait), from
# /proc/stat. The busy fields are sampled at the scheduler tick (this kind
# of kernel has no IRQ time accounting): the whole tick goes to whatever
# runs when it fires, which misjudges a CPU that wakes and sleeps a
# hundred thousand times a second. Idle time is measured exactly (NO_HZ
# idle), so the CPU figures below are "wall time less idle"; the tick
# figure is printed beside them.
# Builtins only, as snap.
cpus() {
	local t=${EPOCHREALTIME//[!0-9]/} c u n y i w q sq st fb fi gb gi
	while read -r c u n y i w q sq st _; do
		case $c in
		"cpu$FWD_CPU") fb=$((u + n + y + q + sq + st)) fi=$((i + w)) ;;
		"cpu$GEN_CPU") gb=$((u + n + y + q + sq + st)) gi=$((i + w)) ;;
		esac
	done </proc/stat
	echo "${t}000 $fb $fi $gb $gi"
}
# pcpu: the daemon's CPU time in ns, exact (the sum of its threads'
# schedstat run times; 0 without a daemon).
pcpu() {
	if [ -n "$daemon" ] && [ -d "/proc/$daemon/task" ]; then
		cat /proc/"$daemon"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
	else
		echo 0
	fi
}
# drops: netyard's dropped frames as `dev show` counts them (RX and TX,
# each drop once), 0 without a daemon.
drops() {
	if [ -n "$daemon" ]; then
		nytc -s dev show | awk '{ for (i = 2; i <= NF; i++) if ($i == "dropped") s += $(i-1) } END { print s + 0 }'
	else
		echo 0
	fi
}

# sample.sh SA SB WINDOW DAEMON: the time it started (with the generator),
# then a point's reads, 1 s after that and WINDOW s later, each a line
# "cpus pcpu snap".
{
	declare -p FWD_CPU GEN_CPU
	declare -f cpus pcpu snap
	cat <<-'EOF'
	daemon=$4
	echo "${EPOCHREALTIME//[!0-9]/}000"
	sleep 1
	echo "$(cpus) $(pcpu) $(snap "$1" "$2")"
	sleep "$3"
	echo "$(cpus) $(pcpu) $(snap "$1" "$2")"
	EOF
} >"$tmp/sample.sh"

dstmac=02:00:00:00:99:02 # not veth-b's: B drops the frames on arrival
flows=1
[ "$QUEUES" = 1 ] || flows=64
# point RATE [DURATION]: one measurement; prints "offered delivered
# lost_in_M drops cpu_ns_per_pkt proc_ns_per_pkt background fwd_busy%
# gen_busy% cpu_ns_per_pkt_ticks": FWD_CPU's time per delivered packet
# (wall less idle, net of the quiet window's load), the daemon's own,
# background that load in % of the CPU, FWD_CPU's and GEN_CPU's busy
# share over the window (wall less idle, in %), and the first figure as
# the tick-sampled busy fields give it.
point() {
	local rate=$1 dur=${2:-$DURATION} mi0 mo0 mi1 mo1 d0 d1 q0 q1 b0 b1 p0 p1 sent rx t0 t1 a0 a1 r0 r1 \
		qt0 qb0 qi0 qgb0 qgi0 qt1 qb1 qi1 qgb1 qgi1 ct0 fb0 fi0 gb0 gi0 ct1 fb1 fi1 gb1 gi1 ts
	local window=$((dur - 2))
	d0=$(drops)
	# A quiet window first: FWD_CPU's load from others (and the idle
	# daemon's, which is none).
	read -r qt0 qb0 qi0 qgb0 qgi0 < <(cpus); sleep 2; read -r qt1 qb1 qi1 qgb1 qgi1 < <(cpus)
	read -r mi0 mo0 < <(inout)
	own ip netns exec "$A" nice -n "$NICE" taskset -c "$GEN_CPU" "$bin" gen -i veth-a --dst-mac "$dstmac" --src-ip 10.99.0.1 --dst-ip 10.99.0.2 \
		--rate "$rate" --flows "$flows" --duration "${dur}s" >"$tmp/gen.out" 2>&1 &
	local g=$!
	own ip netns exec "$B" taskset -c "$GEN_CPU" "$bin" gen --count-rx veth-b --wait 1s --duration "${window}s" >"$tmp/rx.out" 2>&1 &
	local r=$!
	# Processes in A and B whose /proc/PID/net/dev outlive the window,
	# however late the reads come on a loaded machine.
	ip netns exec "$A" sleep $((dur + 5)) &
	local sa=$!
	ip netns exec "$B" sleep $((dur + 5)) &
	local sb=$!
	# The window's reads (sample.sh) run in a session of their own at the
	# daemon's and the generator's priority: from the script's session
	# they waited for CPU behind both when both CPUs were busy, hundreds
	# of ms and more, so the window stretched past the generator's end
	# and diluted the rates (the afpacket way "offered" 145k at 500k
	# asked while gen --count-rx saw 447k arrive at B).
	own bash "$tmp/sample.sh" "$sa" "$sb" "$window" "$daemon" >"$tmp/sample.out" 2>"$tmp/sample.err" &
	local s=$! v
	wait "$s" || { echo "forward: the window's reads failed:" >&2; cat "$tmp/sample.err" >&2; exit 1; }
	{ read -r ts; read -r ct0 fb0 fi0 gb0 gi0 p0 t0 a0 r0; read -r ct1 fb1 fi1 gb1 gi1 p1 t1 a1 r1; } <"$tmp/sample.out"
	for v in ts ct0 fb0 fi0 gb0 gi0 p0 t0 a0 r0 ct1 fb1 fi1 gb1 gi1 p1 t1 a1 r1; do
		[[ ${!v} =~ ^[0-9]+$ ]] || { echo "forward: the window's reads are incomplete ($v is '${!v}'):" >&2; cat "$tmp/sample.out" "$tmp/sample.err" >&2; exit 1; }
	done
	kill "$sa" "$sb" 2>/dev/null || true
	wait "$sa" "$sb" 2>/dev/null || true
	wait "$g" || { echo "forward: gen failed:" >&2; cat "$tmp/gen.out" >&2; exit 1; }
	wait "$r" || { echo "forward: gen --count-rx failed:" >&2; cat "$tmp/rx.out" >&2; exit 1; }
	sleep 0.3 # frames still in M's queues and rings
	read -r mi1 mo1 < <(inout)
	d1=$(drops)
	# Offered and delivered over the same instants: veth-a's tx and
	# veth-b's rx counters read together. gen --count-rx's own count of
	# the (nearly) same window is the cross-check.
	sent=$(awk -v a=$((a1 - a0)) -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", a / ns * 1e9 }')
	rx=$(awk -v b=$((r1 - r0)) -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", b / ns * 1e9 }')
	awk -v rx="$rx" '{ for (i = 1; i < NF; i++) if ($(i+1) == "pps;" && (rx > 1.1 * $i + 100 || rx < 0.9 * $i - 100)) {
		printf "forward: gen --count-rx counted %d pps, the counters %d pps\n", $i, rx > "/dev/stderr" } }' "$tmp/rx.out"
	# The window's offered rate cannot be far above what the generator
	# says it sent over its whole run ("sent N frames ... : R pps"):
	# said when it is (a mirred 3x point once read 1.58M pps offered,
	# where the generator sends ~930k at most; not explained).
	awk -v off="$sent" '$1 == "sent" { for (i = 2; i < NF; i++) if ($(i+1) == "pps;" && off > 1.2 * $i + 1000)
		printf "forward: the window says %d pps offered, the generator sent %d pps over its run: this point is not reliable\n", off, $i > "/dev/stderr" }' "$tmp/gen.out"
	# A window that ended late (within 0.2 s of the generator's end, or
	# after it) is said, not used silently.
	awk -v e=$((t1 - ts)) -v d="$dur" 'BEGIN { if (e > (d - 0.2) * 1e9)
		printf "forward: the window ended %.2f s after the generator started, which ran %d s: its reads came late; this point is not reliable\n", e / 1e9, d > "/dev/stderr" }'
	# Busy shares over the window and the quiet window: 1 - idle / wall.
	awk -v off="$sent" -v rx="$rx" -v l=$(((mi1 - mi0) - (mo1 - mo0))) -v d=$((d1 - d0)) \
		-v cw=$((ct1 - ct0)) -v fi=$((fi1 - fi0)) -v gi=$((gi1 - gi0)) -v fb=$((fb1 - fb0)) \
		-v qw=$((qt1 - qt0)) -v qi=$((qi1 - qi0)) -v qb=$((qb1 - qb0)) \
		-v p=$((p1 - p0)) -v hz="$hz" 'BEGIN {
		wj = cw / 1e9 * hz; qj = qw / 1e9 * hz
		fbusy = wj ? 1 - fi / wj : 0; if (fbusy < 0) fbusy = 0
		gbusy = wj ? 1 - gi / wj : 0; if (gbusy < 0) gbusy = 0
		qbusy = qj ? 1 - qi / qj : 0; if (qbusy < 0) qbusy = 0
		qtick = qj ? qb / qj : 0
		n = rx * cw / 1e9
		cpu = (fbusy - qbusy) * cw; if (cpu < 0) cpu = 0
		tick = fb / hz * 1e9 - qtick * cw; if (tick < 0) tick = 0
		printf "%d %d %d %d %.0f %.0f %.1f %.1f %.1f %.0f\n", off, rx, l, d, n ? cpu / n : 0, n ? p / n : 0, qbusy * 100,
			fbusy * 100, gbusy * 100, n ? tick / n : 0
	}'
}

# median FIELD: the median of a field of the lines on stdin.
median() {
	awk -v f="$1" '{ print $f }' | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'
}

setup
ways=""
for way in $WAYS; do
	case $way in
	bridge | mirred | netyard | netyard2) ways="$ways $way" ;;
	xdp2) ways="$ways xdp2" ;;
	xdp)
		if xdp_on; then
			xdp_off
			ways="$ways xdp"
		else
			echo "forward: no xdp way: the daemon refused 'dev add ... type xdp' ($(head -c 300 "$tmp/daemon.log" | tr '\n' ' '))" >&2
		fi
		;;
	*) echo "forward: unknown way $way (bridge mirred netyard netyard2 xdp xdp2)" >&2; exit 1 ;;
	esac
done

echo "forward: 60-byte frames (64 on the wire), A -> M -> B; gen on CPU $GEN_CPU, M on CPU $FWD_CPU (RPS=$RPS, daemon nice $NICE, SLOW_RULES=$SLOW_RULES, QUEUES=$QUEUES); $ROUNDS rounds, ${DURATION} s a point, counted over ${window} s; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
for round in $(seq "$ROUNDS"); do
	for rate in $RATES; do
		for way in $ways; do
			"${way}_on"
			# Let a new daemon settle (an xdp device's UMEM is
			# zeroed and pinned after the daemon answers) before the
			# point's quiet window measures the CPU's background.
			sleep 1
			echo "$rate $(point "$rate")" >>"$tmp/sweep.$way"
			if [ -n "$daemon" ]; then
				nytc -s dev show >"$tmp/devs.$way"
				# Which of RX dropped were backlog drops (redirects
				# into the device that found its backlog full): the
				# rest are the backend's and the kernel ring's.
				nytc -s qdisc show | awk '$1 == "qdisc" { dev = $5 } $1 == "loop_drops" { print "dev " dev ": backlog drops " $4 }' >>"$tmp/devs.$way"
			fi
			"${way}_off"
		done
	done
	echo "  round $round of $ROUNDS done" >&2
done

# capacity WAY: the median over the rounds of the way's best delivered rate.
capacity() {
	awk -v r="$ROUNDS" -v n="$(echo $RATES | wc -w)" '{ round = int((NR - 1) / n); if ($3 > best[round]) best[round] = $3 }
		END { for (i = 0; i < r; i++) print best[i] }' "$tmp/sweep.$1" | median 1
}
declare -A cap
for way in $ways; do cap[$way]=$(capacity "$way"); done
# bestpoint WAY: the sweep's line whose delivered rate is nearest the
# way's capacity.
bestpoint() {
	awk -v c="${cap[$1]}" '{ d = $3 - c; if (d < 0) d = -d; if (NR == 1 || d < bd) { bd = d; line = $0 } } END { print line }' "$tmp/sweep.$1"
}

# Overload: each way at 3x its capacity, ways alternating.
for round in $(seq "$ROUNDS"); do
	for way in $ways; do
		"${way}_on"
		point "$(awk -v c="${cap[$way]}" 'BEGIN { printf "%d", 3 * c }')" >>"$tmp/over.$way"
		"${way}_off"
	done
done

# CPU per packet at 100k pps: a longer window (CPU_SECONDS), ways
# alternating, ROUNDS times.
for round in $(seq "$ROUNDS"); do
	for way in $ways; do
		"${way}_on"
		point 100k $((CPU_SECONDS + 2)) >>"$tmp/cpu.$way"
		"${way}_off"
	done
done

fail=0
printf '\n%-9s %9s %9s %9s %7s %9s %9s %6s %6s\n' way offered offered delivered loss "lost in M" "netyard" "M CPU" "gen"
printf '%-9s %9s %9s %9s %7s %9s %9s %6s %6s\n' "" "(asked)" "(pps)" "(pps)" "" "(all)" "drops" "busy" "CPU"
for way in $ways; do
	for rate in $RATES; do
		awk -v r="$rate" '$1 == r' "$tmp/sweep.$way" >"$tmp/pt"
		off=$(median 2 <"$tmp/pt"); del=$(median 3 <"$tmp/pt")
		lost=$(awk '{ s += $4 } END { print s + 0 }' "$tmp/pt"); dr=$(awk '{ s += $5 } END { print s + 0 }' "$tmp/pt")
		loss=$(awk -v o="$off" -v d="$del" 'BEGIN { printf "%.2f", o ? 100 * (1 - d / o) : 0 }')
		mark=
		# Below capacity (offered under 98% of it), at most 1% may go.
		if awk -v o="$off" -v c="${cap[$way]}" -v l="$loss" 'BEGIN { exit !(o < 0.98 * c && l > 1) }'; then
			mark="  FAIL: loses ${loss}% below its capacity"
			fail=1
		fi
		printf '%-9s %9s %9.0f %9.0f %6s%% %9d %9d %5.0f%% %5.0f%%%s\n' "$way" "$rate" "$off" "$del" "$loss" "$lost" "$dr" \
			"$(median 9 <"$tmp/pt")" "$(median 10 <"$tmp/pt")" "$mark"
	done
	off=$(median 1 <"$tmp/over.$way"); del=$(median 2 <"$tmp/over.$way")
	printf '%-9s %9s %9.0f %9.0f %6s%% %9d %9d %5.0f%% %5.0f%%   (3x capacity)\n' "$way" "3x" "$off" "$del" \
		"$(awk -v o="$off" -v d="$del" 'BEGIN { printf "%.2f", o ? 100 * (1 - d / o) : 0 }')" \
		"$(awk '{ s += $3 } END { print s + 0 }' "$tmp/over.$way")" "$(awk '{ s += $4 } END { print s + 0 }' "$tmp/over.$way")" \
		"$(median 8 <"$tmp/over.$way")" "$(median 9 <"$tmp/over.$way")"
done

echo
echo "capacity (median over rounds of the best delivered rate), overload (delivered at 3x capacity / capacity),"
echo "CPU per delivered packet at 100k pps (FWD_CPU busy = wall less idle, net of its quiet load; the daemon's own"
echo "in brackets; the tick-sampled figure after 'ticks'), and FWD_CPU's time per packet at the best point of the"
echo "sweep (net of its quiet load) with the rate that makes a whole FWD_CPU (when the generator, not M, was the limit):"
for way in $ways; do
	over=$(median 2 <"$tmp/over.$way"); offo=$(median 1 <"$tmp/over.$way")
	ratio=$(awk -v d="$over" -v c="${cap[$way]}" 'BEGIN { printf "%.2f", c ? d / c : 0 }')
	note=
	if awk -v o="$offo" -v c="${cap[$way]}" 'BEGIN { exit !(o < 2.7 * c) }'; then
		note=" (gen offered only $(awk -v o="$offo" -v c="${cap[$way]}" 'BEGIN { printf "%.1f", o / c }')x)"
	elif awk -v r="$ratio" 'BEGIN { exit !(r < 0.9) }'; then
		note=" (below 0.90)"
	fi
	cpu=$(median 5 <"$tmp/cpu.$way"); proc=$(median 6 <"$tmp/cpu.$way"); bg=$(median 7 <"$tmp/cpu.$way")
	printf '  %-9s capacity %8.0f pps   overload %s%s   CPU %s ns/pkt' "$way" "${cap[$way]}" "$ratio" "$note" "$cpu"
	case $way in netyard*|xdp*) printf ' [%s]' "$proc" ;; esac
	printf ' (ticks %s; background load %s%%)' "$(median 10 <"$tmp/cpu.$way")" "$bg"
	echo
	# The sweep's best point: FWD_CPU's share net of its background, and
	# what a whole FWD_CPU would forward at that cost. The point is the
	# one whose delivered rate is the capacity (the median round's best),
	# not the highest of all rounds, which is the likeliest outlier.
	bestpoint "$way" | awk '{ b = ($9 - $8) / 100; if (b <= 0) b = 0.001
		if ($8 > 50) printf "  %-9s at its best point (%d pps delivered) FWD_CPU was %.0f%% busy with others before: no figure\n", "", $3, $8
		else printf "  %-9s at its best point (%d pps delivered) FWD_CPU %.0f%% busy (%.0f%% of it others), %.0f ns/pkt: %.0f pps on a whole FWD_CPU\n",
			"", $3, $9, $8, b / $3 * 1e9, $3 / b }'
	# (0: no figure, the CPU was busy with others before the point)
	bestpoint "$way" | awk '{ b = ($9 - $8) / 100; if (b <= 0) b = 0.001; print ($8 > 50) ? 0 : $3 / b }' >"$tmp/fullcpu.$way"
done
if [[ " $ways " == *" mirred "* ]]; then
	for way in $ways; do
		case $way in netyard*|xdp*) ;; *) continue ;; esac
		echo "ratio $way/mirred: capacity $(ratio "${cap[$way]}" "${cap[mirred]}"), CPU per packet at 100k pps $(ratio \
			"$(median 5 <"$tmp/cpu.$way")" "$(median 5 <"$tmp/cpu.mirred")"), rate on a whole FWD_CPU $(ratio \
			"$(cat "$tmp/fullcpu.$way")" "$(cat "$tmp/fullcpu.mirred")" | sed 's/^0\.00$\|^inf$/no figure/')"
	done
fi
[ -z "${cap[netyard2]:-}" ] || [ -z "${cap[netyard]:-}" ] || echo "ratio netyard2/netyard capacity: $(ratio "${cap[netyard2]}" "${cap[netyard]}")"
[ -z "${cap[xdp2]:-}" ] || [ -z "${cap[xdp]:-}" ] || echo "ratio xdp2/xdp capacity: $(ratio "${cap[xdp2]}" "${cap[xdp]}")"
for way in $ways; do
	[ -s "$tmp/devs.$way" ] || continue
	echo "$way, netyard's own counters after the sweep's last point (dev show: RX dropped includes its kernel ring's, device ring's and backlogs' drops):"
	sed 's/^/  /' "$tmp/devs.$way"
done
if [ "$fail" = 1 ]; then
	echo "forward: a way lost more than 1% below its capacity" >&2
	exit 1
fi
