#!/usr/bin/env bash
# `make bench`: builds the package (scripts/build-pkg.sh), installs bench/'s pinned tools when
# bench/package-lock.json is newer than the install, then runs bench/run.mjs, which prints one
# markdown table and writes bench/results.json and bench/results.md. Needs the machine set up
# (`make setup`: Rust/wasm-pack tools, www/node_modules and www/v2/node_modules for the local
# Convex Auth v1 and v2 backends) and Chromium at /usr/bin/chromium (or CHROMIUM=...). About
# 1.5–2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

for modules in www/node_modules www/v2/node_modules; do
  if [ ! -d "$modules" ]; then
    echo "bench: $modules is missing (a local backend's packages): run \`make setup\` first" >&2
    exit 1
  fi
done

bash scripts/build-pkg.sh

if [ ! -f bench/node_modules/.package-lock.json ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  echo "bench: npm ci in bench/" >&2
  # Install scripts are not run (as in PEERS.md §2); esbuild's binary comes from its
  # @esbuild/<platform> package, playwright-core uses the system Chromium.
  (cd bench && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi

node bench/run.mjs
echo "bench: done in $(( $(date +%s) - started )) s" >&2
