#!/usr/bin/env bash
# SAFARIDRIVER for wasm-bindgen-test-runner: runs WebKitGTK's WebDriver (/usr/bin/WebKitWebDriver,
# Debian package webkit2gtk-driver), which only understands `--port=N` (or `-p N`). Accepts both
# `--port N` and `--port=N` and passes the other arguments through. `exec` keeps the runner's
# kill aimed at the driver itself.
set -euo pipefail
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --port) args+=("--port=${2:?--port needs a value}"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
exec "${WEBKIT_WEBDRIVER:-/usr/bin/WebKitWebDriver}" "${args[@]}"
