#!/usr/bin/env bash
# Builds the demo page with Vite into www/dist, using the package as users get it: the tarball
# packed by scripts/build-pkg.sh, installed into www/ without saving it (its integrity changes
# with every build), imported as "convex-auth-wasm".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
TARBALL=$(package_tarball)
cd www
npm install --no-save --no-audit --no-fund --loglevel=error "$TARBALL" >/dev/null
npx --no-install vite build
test -f dist/index.html
