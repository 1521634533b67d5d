#!/usr/bin/env bash
# Runs weir's whole test suite: vet, then every Go test with the race
# detector. The tests build the weir binary and the WASM filters of sdk/ and
# examples/ from source, and drive weir with real clients (a second Go
# WebSocket library, the `ws` npm client, headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
tests/setup.sh
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -timeout 18m "$@" ./...
