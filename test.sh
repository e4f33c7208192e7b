#!/usr/bin/env bash
# The whole test suite: formatting, vet, the race detector on the packages
# with concurrency, and every test. README.md's second command; .ci/run runs
# this too. Tests that need root or network namespaces skip with a reason
# when not root, and never skip under CI=true.
set -euo pipefail
cd "$(dirname "$0")"
export CGO_ENABLED=${CGO_ENABLED:-0}

# The tools some tests use (gcc for the race detector; ip, ping, sysctl
# for the network-namespace tests): .ci/setup installs what is missing
# when we are root, and says what is missing otherwise. Without them,
# those tests skip with a message (never under CI=true, where they fail).
echo "== setup"
if ! .ci/setup; then
	echo "setup failed: tests needing the missing tools will skip (fail under CI=true)" >&2
fi
if ! command -v gcc >/dev/null; then
	echo "no gcc: the race detector (cgo) cannot run" >&2
	[ "${CI:-}" = true ] && exit 1
fi

echo "== gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== build (CGO_ENABLED=0)"
go build -o /dev/null ./cmd/netyard
GOOS=darwin go build -o /dev/null ./cmd/netyard # the Linux backends say "not supported" elsewhere

echo "== race detector (packages with concurrency)"
# The race detector needs cgo, and cgo a C compiler.
if command -v gcc >/dev/null; then
	CGO_ENABLED=1 go test -race -count=1 ./pkt/ ./stats/ ./netdev/ ./act/ ./cls/ ./datapath/ ./ctl/... ./link/
	CGO_ENABLED=1 go test -race -count=1 ./bpf/ebpf/ ./bpf/bpftool/ # maps and programs shared by workers; ring buffers streamed while written
else
	echo "skipped: no gcc (.ci/setup installs it as root)"
fi

echo "== tests"
go test -count=1 ./...
