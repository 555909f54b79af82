#!/usr/bin/env bash
# Builds the example apps into examples/dist with the package from ../target/npm (made by
# scripts/build-pkg.sh). Runs from any directory. Needs the npm registry only for the first
# `npm ci` (or after package-lock.json changed); the package itself installs from the tarball.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib.sh
TARBALL=$(package_tarball)
cd examples

# npm ci when node_modules is missing or older than the lock file (as scripts/setup.sh does).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# The package is not in package.json (its integrity changes with every build): install the
# current tarball over whatever an earlier run installed.
npm install --no-save --no-audit --no-fund --prefer-offline --loglevel=error "$TARBALL"

npx --no -- vite build --logLevel "${VITE_LOG_LEVEL:-info}"
