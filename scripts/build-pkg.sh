#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack --target web, release profile, wasm-opt -Oz from
# binaryen 132 in tools/, which comes first on PATH through the Makefile).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
wasm-pack --quiet build --target web --release --out-dir pkg --no-pack 2>&1 | grep -v '^\[INFO\]' || true
test -f pkg/convex_auth_wasm_bg.wasm
