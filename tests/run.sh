#!/usr/bin/env bash
# Runs weir's whole test suite: vet, then every Go test with the race
# detector, then every benchmark once. The tests build the weir binary and
# the WASM filters of sdk/ and examples/ from source, and drive weir with
# real clients (a second Go WebSocket library, the `ws` npm client,
# headless Chromium). Benchmarks run one iteration each so that a broken
# one fails here; their timings are not looked at.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -timeout 18m "$@" ./...
if [[ $# -eq 0 ]]; then # a run narrowed by arguments skips this step
	echo "== benchmarks, one iteration each"
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	if ! go test -run '^$' -bench . -benchtime 1x -timeout 5m ./... >"$out" 2>&1; then
		cat "$out"
		exit 1
	fi
fi
