#!/usr/bin/env bash
# The size budget (after scripts/build-pkg.sh): pkg/web's .wasm plus its JS glue, as shipped,
# `gzip -9 -n`, must not exceed BUDGET bytes. The budget is a ratchet: lower it whenever the
# package gets smaller, never raise it. Issue 6's target is 24,576 bytes (and then below
# better-auth's 12,155); the current figure is far above it, see README "Performance".
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=63000
wasm=$(gzip -9 -n -c pkg/web/convex_auth_wasm_bg.wasm | wc -c)
glue=$(gzip -9 -n -c pkg/web/convex_auth_wasm.js | wc -c)
total=$((wasm + glue))
echo "size: wasm $wasm + glue $glue = $total bytes gzip -9 (budget $BUDGET)"
[ "$total" -le "$BUDGET" ] || { echo "size: over budget by $((total - BUDGET)) bytes" >&2; exit 1; }
