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
