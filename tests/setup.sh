#!/usr/bin/env bash
# Installs what the test suite needs on a new Debian machine and does
# nothing for what is already there: the C and Rust toolchains that build the
# WASM filters, Chromium for the browser tests, and the npm packages (the
# `ws` client, AssemblyScript). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang || need+=(clang)
have wasm-ld || need+=(lld)
have wat2wasm || need+=(wabt)
have chromium || need+=(chromium)
[ -x /usr/bin/rustc ] || need+=(rustc)
[ -x /usr/bin/cargo ] || need+=(cargo)
[ -d /usr/lib/rustlib/wasm32-unknown-unknown ] || need+=(libstd-rust-dev-wasm32)
have node || need+=(nodejs)
have npm || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm packages, pinned by each package-lock.json.
for dir in tests/e2e/node sdk/assemblyscript; do
  if [ -f "$dir/package.json" ] && [ ! -d "$dir/node_modules" ]; then
    echo "setup: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
