#!/usr/bin/env bash
# Parse against gopacket's DecodingLayerParser on the same 64-byte
# 802.1Q/IPv4/UDP frame (wire/parse_bench_test.go). Prints the median ns/op
# of each over 5 runs and the ratio gopacket/netyard; the target is >= 5.
# Runs from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

out="$(go test -run '^$' -bench BenchmarkParseVsGopacket -benchmem -count 5 ./wire/)"
printf '%s\n' "$out"
printf '%s\n' "$out" | awk '
	# Lines look like: BenchmarkParseVsGopacket/netyard-2  N  8.78 ns/op ...
	$1 ~ /^BenchmarkParseVsGopacket\// {
		name = $1
		sub(/^BenchmarkParseVsGopacket\//, "", name)
		sub(/-[0-9]+$/, "", name)
		for (i = 2; i < NF; i++) if ($(i + 1) == "ns/op") v[name, ++n[name]] = $i + 0
	}
	function median(name,    k, m, i, j, t, a) {
		m = n[name]
		for (i = 1; i <= m; i++) a[i] = v[name, i]
		for (i = 2; i <= m; i++)  # insertion sort: 5 values
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		if (!n["netyard"] || !n["gopacket"]) { print "parse.sh: benchmark lines missing" > "/dev/stderr"; exit 1 }
		ny = median("netyard"); gp = median("gopacket")
		printf "netyard  median %.2f ns/op (%d runs)\n", ny, n["netyard"]
		printf "gopacket median %.2f ns/op (%d runs)\n", gp, n["gopacket"]
		printf "ratio gopacket/netyard %.2fx\n", gp / ny
	}'
