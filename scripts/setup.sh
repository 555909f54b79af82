#!/usr/bin/env bash
# Idempotent setup: installs everything `make demo`, `make test` and `make bench` need.
# A second run with everything present only checks versions (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
WASM_PACK_VERSION=0.15.1
GECKODRIVER_VERSION=0.37.1
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

log() { printf '[setup] %s\n' "$*" >&2; }

# 1. Debian packages (apt-get update only when something is missing).
APT_PACKAGES=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth binaryen brotli)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Rust: the wasm target and the pinned tools.
rustup target list --installed | grep -qx wasm32-unknown-unknown || {
  log "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
# The standard library's sources, for the size-optimised package build (scripts/build-pkg.sh).
rustup component list --installed | grep -qx rust-src || {
  log "rustup component add rust-src"; rustup component add rust-src; }

have_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -q "$2"; }
have_version wasm-bindgen "$WASM_BINDGEN_VERSION" || {
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 8 minutes)"
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force; }
have_version wasm-pack "$WASM_PACK_VERSION" || {
  log "cargo install wasm-pack $WASM_PACK_VERSION (about 3 minutes)"
  cargo install -q wasm-pack --version "$WASM_PACK_VERSION" --force; }
have_version geckodriver "$GECKODRIVER_VERSION" || {
  log "cargo install geckodriver $GECKODRIVER_VERSION (about 4 minutes)"
  cargo install -q geckodriver --version "$GECKODRIVER_VERSION" --force; }

# 3. Node parts: npm ci when node_modules is missing or older than the lock file.
for dir in tools www www/v2 pkg-tests types examples; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp="$dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
log "ready"
