# Shared by the bench scripts: run one go benchmark several times in one go
# and print the median ns/op (or another unit) of each sub-benchmark.
# Usage: median_by_name FILE UNIT   (reads `go test -bench` output)
median_by_name() {
	awk -v unit="$2" '
	/^Benchmark/ {
		name = $1; sub(/-[0-9]+$/, "", name)
		for (i = 2; i < NF; i++) if ($(i+1) == unit) { v[name] = v[name] " " $i }
	}
	END {
		for (n in v) {
			k = split(substr(v[n], 2), a, " ")
			# insertion sort, k is small
			for (i = 2; i <= k; i++) { x = a[i]; j = i - 1; while (j > 0 && a[j] > x) { a[j+1] = a[j]; j-- }; a[j+1] = x }
			m = (k % 2) ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2
			print n, m
		}
	}' "$1" | sort
}

# ratio A B: prints A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f\n", a / b }'; }

# value NAME FILE: the median of benchmark NAME from median_by_name output.
value() { awk -v n="$1" '$1 == n { print $2 }' "$2"; }

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }
# median of the numbers on stdin
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }'; }
# wall SECONDS of a command, RUNS times, median
wall() {
	for _ in $(seq "$RUNS"); do
		a=$(now)
		"$@" >/dev/null
		b=$(now)
		awk -v a="$a" -v b="$b" 'BEGIN { print b - a }'
	done | median
}

# The namespace scripts' pieces (forward.sh, tcp.sh).

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
# netns_del NS...: kills what still runs in the namespaces and deletes them.
netns_del() {
	local n pids
	for n in "$@"; do
		pids=$(ip netns pids "$n" 2>/dev/null || true)
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
		ip netns del "$n" 2>/dev/null || true
	done
}
# own CMD...: CMD in a session of its own whose autogroup has nice NICE
# (forward.sh says why), in a background job only: it execs. setsid does
# not fork there (a background job of a script is no process group
# leader), so $! is CMD's PID.
own() {
	exec setsid sh -c 'echo "$0" 2>/dev/null >/proc/self/autogroup || :; exec "$@"' "$NICE" "$@"
}
# bridge_add NS IF1 IF2: bridge br0 in NS over IF1 and IF2, forwarding
# from the first frame (no STP listening/learning delay).
bridge_add() {
	ip -n "$1" link add br0 type bridge
	ip -n "$1" link set dev br0 type bridge stp_state 0 forward_delay 0
	ip -n "$1" link set dev "$2" master br0
	ip -n "$1" link set dev "$3" master br0
	ip -n "$1" link set dev br0 up
}
# netyard_bin DIR: the binary to run, $NETYARD or one built into DIR.
netyard_bin() {
	if [ -n "${NETYARD:-}" ]; then
		echo "$NETYARD"
	else
		CGO_ENABLED=0 go build -o "$1/netyard" ./cmd/netyard && echo "$1/netyard"
	fi
}
