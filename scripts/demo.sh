#!/usr/bin/env bash
# `make demo`: the local backend on 127.0.0.1:3210 and the demo page on http://localhost:5173.
# With CONVEX_URL set (a real deployment), only the page is served, pointed at that deployment.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_backends EXIT INT TERM
bash scripts/build-demo.sh
if [ -z "${CONVEX_URL:-}" ]; then
  start_backend BACKEND_URL PORT="${BACKEND_PORT:-3210}" SITE_URL="http://localhost:${DEMO_PORT:-5173}"
  echo "Local Convex backend: $BACKEND_URL"
  export CONVEX_URL="$BACKEND_URL"
fi
echo "Demo: http://localhost:${DEMO_PORT:-5173}  (Ctrl-C stops everything)"
PORT="${DEMO_PORT:-5173}" node www/serve.mjs
