# Shared helpers for the scripts: starting the local backend and stopping it on exit.

# start_backend VAR [--v2] [ENV=VALUE...]: starts the local backend (`node www/backend/main.mjs`,
# Convex Auth v1; with --v2 `www/v2/backend/main.mjs`, Convex Auth v2) with the given
# environment, waits for its ready line and stores its url in VAR; the process is stopped by
# stop_backends (registered on EXIT by the caller).
BACKEND_PIDS=()
start_backend() {
  local var=$1; shift
  local dir=www
  if [ "${1:-}" = --v2 ]; then dir=www/v2; shift; fi
  local out; out=$(mktemp)
  ( cd "$dir" && exec env "$@" node backend/main.mjs ) >"$out" 2> >(grep -v '^\s*$' >&2) &
  BACKEND_PIDS+=($!)
  for _ in $(seq 1 300); do
    if grep -q '"ready":true' "$out" 2>/dev/null; then
      printf -v "$var" '%s' "$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$out" | head -n1)"
      # ${VAR}_IDP: the backend's OAuth/OIDC mock (the identity platform of the demo).
      printf -v "${var}_IDP" '%s' "$(sed -n 's/.*"idpUrl":"\([^"]*\)".*/\1/p' "$out" | head -n1)"
      return 0
    fi
    kill -0 "${BACKEND_PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "backend did not start" >&2
  return 1
}

stop_backends() {
  local pid
  for pid in "${BACKEND_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${BACKEND_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  BACKEND_PIDS=()
}

# package_tarball: prints the path of the tarball packed by scripts/build-pkg.sh (fails if absent).
package_tarball() {
  local version tarball
  version=$(sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n1)
  tarball="$PWD/target/npm/convex-auth-wasm-$version.tgz"
  [ -f "$tarball" ] || { echo "no $tarball: run scripts/build-pkg.sh" >&2; return 1; }
  echo "$tarball"
}
