#!/usr/bin/env bash
# Builds the Rust front-end examples, apps that use the crate directly: examples-rust/leptos and
# examples-rust/yew, each its own workspace with its own lock file. For each: cargo (release,
# wasm32) into examples-rust/target/<app>, and wasm-bindgen --target web into
# examples-rust/<app>/pkg/. One target dir per app: a shared one saves nothing on a cold build
# (the apps unify web-sys's features differently, so the crate and what depends on it are built
# per app anyway) and makes every warm build rebuild both apps in turn.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
for app in leptos yew; do
  dir="$ROOT/examples-rust/$app"
  name="convex-auth-$app-example"
  export CARGO_TARGET_DIR="$ROOT/examples-rust/target/$app"
  (cd "$dir" && cargo build --quiet --locked --release --target wasm32-unknown-unknown)
  wasm-bindgen --target web --no-typescript --out-dir "$dir/pkg" \
    "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/$name.wasm"
  test -f "$dir/pkg/${name}_bg.wasm"
done
