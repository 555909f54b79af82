#!/usr/bin/env bash
# Builds the Leptos example (examples-rust/leptos), a Rust front end that uses the crate directly:
# cargo (release, wasm32) and wasm-bindgen --target web into examples-rust/leptos/pkg/.
set -euo pipefail
cd "$(dirname "$0")/../examples-rust/leptos"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo build --quiet --locked --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir pkg \
  target/wasm32-unknown-unknown/release/convex-auth-leptos-example.wasm
test -f pkg/convex-auth-leptos-example_bg.wasm
