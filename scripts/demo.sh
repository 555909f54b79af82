#!/usr/bin/env bash
# `make demo`: both local backends, Convex Auth v1 on 127.0.0.1:3210 and Convex Auth v2 on
# 127.0.0.1:3211 (BACKEND_PORT / BACKEND_PORT_V2), and the demo page on http://localhost:5173
# (DEMO_PORT), whose backend switch (`?backend=v1` / `?backend=v2`) picks the one its client
# talks to. Both backends get SITE_URL = the page's origin, so emailed links and OAuth return to
# it; the v2 backend's passkey rpId is `localhost`, the page's host.
# With CONVEX_URL and/or CONVEX_URL_V2 set (real deployments of www/convex and www/v2/convex),
# only the page is served, pointed at those deployments.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_backends EXIT INT TERM
bash scripts/build-demo.sh
DEMO_PORT="${DEMO_PORT:-5173}"
SITE="http://localhost:$DEMO_PORT"
if [ -z "${CONVEX_URL:-}" ] && [ -z "${CONVEX_URL_V2:-}" ]; then
  start_backend BACKEND_URL PORT="${BACKEND_PORT:-3210}" SITE_URL="$SITE"
  start_backend BACKEND_URL_V2 --v2 PORT="${BACKEND_PORT_V2:-3211}" SITE_URL="$SITE"
  echo "Local Convex backends: v1 $BACKEND_URL, v2 $BACKEND_URL_V2"
  export CONVEX_URL="$BACKEND_URL" CONVEX_URL_V2="$BACKEND_URL_V2" IDP_URL="$BACKEND_URL_IDP"
fi
echo "Demo: $SITE (Convex Auth v1), $SITE/?backend=v2 (Convex Auth v2), $SITE/?backend=platform (an identity platform)  (Ctrl-C stops everything)"
PORT="$DEMO_PORT" node www/serve.mjs
