#!/usr/bin/env bash
# Builds the demo page with Vite into www/dist, using the package as users get it: the tarball
# packed by scripts/build-pkg.sh, installed into www/ without saving it (its integrity changes
# with every build), imported as "convex-auth-wasm".
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n1)
TARBALL="$PWD/target/npm/convex-auth-wasm-$VERSION.tgz"
test -f "$TARBALL" || { echo "no $TARBALL: run scripts/build-pkg.sh" >&2; exit 2; }
cd www
npm install --no-save --no-audit --no-fund --loglevel=error "$TARBALL" >/dev/null
npx --no-install vite build
test -f dist/index.html
