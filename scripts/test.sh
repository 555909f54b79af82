#!/usr/bin/env bash
# `make test`: formatting, lints, native tests, browser tests in three engines, Node tests of
# the backend, and end-to-end tests of the built package. Every suite runs even when an
# earlier one failed; the last line sums them all: "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$PWD/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

PASSED=0
FAILED=0
LOG_DIR=$(mktemp -d)
trap 'stop_backends; rm -rf "$LOG_DIR"' EXIT

# run_check NAME CMD...: a check that counts as one test.
run_check() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); echo "FAILED: $name"; fi
}

# run_suite NAME KIND CMD...: a test runner whose own counts are added (KIND: cargo | node).
# A runner that fails without printing counts counts as one failure.
run_suite() {
  local name=$1 kind=$2; shift 2
  local log="$LOG_DIR/$name.log" p=0 f=0 status
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  if [ "$kind" = cargo ]; then
    p=$(awk '/^test result: /{for(i=1;i<=NF;i++){if($(i+1)~/^passed/)p+=$i}} END{print p+0}' "$log")
    f=$(awk '/^test result: /{for(i=1;i<=NF;i++){if($(i+1)~/^failed/)f+=$i}} END{print f+0}' "$log")
  else
    p=$(awk '/^# pass [0-9]+$/{p+=$3} END{print p+0}' "$log")
    f=$(awk '/^# fail [0-9]+$/{f+=$3} END{print f+0}' "$log")
  fi
  p=${p:-0}; f=${f:-0}
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  [ "$status" -ne 0 ] && echo "FAILED: $name (exit $status)"
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
}

run_check "cargo fmt --check" cargo fmt --all -- --check
# The Rust front-end examples are workspaces of their own (scripts/rust-frontend.sh builds them).
run_check "cargo fmt --check (examples-rust)" bash -c 'for app in leptos yew; do
  cargo fmt --check --manifest-path "examples-rust/$app/Cargo.toml" || exit 1; done'
run_check "clippy (host)" cargo clippy --all-targets --all-features --quiet -- -D warnings
run_check "clippy (wasm32)" cargo clippy --all-targets --all-features --quiet --target wasm32-unknown-unknown -- -D warnings
run_suite native cargo cargo test --quiet --features serde
# The crate as Rust apps get it: docs for the browser target (every public item documented, no
# broken links), and a package that builds from what `cargo publish` would upload.
run_check "cargo doc (wasm32, -D warnings)" env RUSTDOCFLAGS="-D warnings" \
  cargo doc --quiet --no-deps --features serde --target wasm32-unknown-unknown
run_check "cargo publish --dry-run" cargo publish --quiet --dry-run --allow-dirty
run_check "fuzz the core for 60 s (scripts/fuzz.sh)" bash scripts/fuzz.sh 60

# Browser tests of the crate against a backend of each generation with short-lived tokens.
if start_backend TEST_URL PORT=0 JWT_DURATION_MS=20000 &&
  start_backend TEST_URL_V2 --v2 PORT=0 JWT_DURATION_MS=20000; then
  export CONVEX_AUTH_TEST_URL="$TEST_URL" CONVEX_AUTH_TEST_URL_V2="$TEST_URL_V2"
  for engine in chromium firefox webkit; do
    # With the `serde` feature (a superset: the npm build's code plus the typed calls).
    run_suite "wasm-$engine" cargo bash scripts/wasm-test.sh "$engine" --features serde
  done
  stop_backends
else
  FAILED=$((FAILED + 1))
fi

run_suite backend node bash -c 'cd www && npm test --silent'
run_suite backend-v2 node bash -c 'cd www/v2 && npm test --silent'
run_check "build and pack the package" bash scripts/build-pkg.sh
run_check "size budget (scripts/size-check.sh)" bash scripts/size-check.sh
run_check "type tests (tsc)" bash scripts/type-test.sh
run_check "build the demo with Vite from the tarball" bash scripts/build-demo.sh
run_suite pkg-tests node bash -c 'cd pkg-tests && npm test --silent'

echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
