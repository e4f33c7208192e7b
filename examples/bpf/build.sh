#!/usr/bin/env bash
# Rebuilds the example objects (and the test programs of bpf/ebpf) with
# clang when it is installed. The objects are committed: tests and CI use
# them and need no compiler.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v clang >/dev/null; then
	echo "build.sh: clang not installed (apt-get install clang); keeping the committed objects" >&2
	exit 0
fi
CFLAGS=(-O2 -g -target bpf -mcpu=v3 -Wall -Werror -Wno-unused-function)
for c in *.c; do
	clang "${CFLAGS[@]}" -c "$c" -o "${c%.c}.o"
done
# The lab's airtime scenario embeds its own copy (a Go package cannot
# embed files above it, and this folder's C files keep Go out of it).
cp wifi_monitor.o ../../lab/objects/wifi_monitor.o
t=../../bpf/ebpf/testdata
for c in progs.c bad.c wifi.c; do
	clang "${CFLAGS[@]}" -I . -c "$t/$c" -o "$t/${c%.c}.o"
done
echo "built: $(ls ./*.o | tr '\n' ' ')"
