#!/usr/bin/env bash
# Runs the crate's wasm-bindgen-test browser tests headless in one engine:
#
#   scripts/wasm-test.sh chromium|firefox|webkit [extra `cargo test` args, e.g. --test web_tabs]
#
# Without a target selector among the extra args it runs every integration test and the lib's
# unit tests (`--tests`). The runner's own output (with its `test result: ...` lines) goes to
# stdout; the script's notes go to stderr. Exits non-zero on any failure. Every process started
# for the run (driver, browser, Xvfb) is stopped before it returns, also on Ctrl-C or SIGTERM.
#
# Environment (all optional):
#   WASM_BINDGEN_TEST_TIMEOUT          seconds one test binary may run in the browser (120)
#   WASM_BINDGEN_TEST_DRIVER_TIMEOUT   seconds the driver may take to bind its port (30)
#   CONVEX_AUTH_TEST_URL               backend URL, read by the tests at compile time
#   CHROMEDRIVER / GECKODRIVER / WEBKIT_WEBDRIVER   driver binaries (/usr/bin/chromedriver,
#                                      geckodriver on PATH, /usr/bin/WebKitWebDriver)
set -uo pipefail

usage() { echo "usage: $0 chromium|firefox|webkit [cargo test args...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
ENGINE=$1; shift

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
note() { printf '[wasm-test] %s\n' "$*" >&2; }
die() { note "$*"; exit 2; }

# --- tools -------------------------------------------------------------------------------------
command -v wasm-bindgen-test-runner >/dev/null || die "wasm-bindgen-test-runner not on PATH: run scripts/setup.sh"
lock_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock 2>/dev/null)
runner_version=$(wasm-bindgen-test-runner --version | awk '{ print $2 }')
if [ -n "$lock_version" ] && [ "$lock_version" != "$runner_version" ]; then
  die "wasm-bindgen-test-runner is $runner_version but Cargo.lock has wasm-bindgen $lock_version: run scripts/setup.sh"
fi

# The runner picks the first driver variable it finds (GECKODRIVER, SAFARIDRIVER, CHROMEDRIVER,
# MSEDGEDRIVER), so clear them all and set exactly one.
chromedriver=${CHROMEDRIVER:-/usr/bin/chromedriver}
geckodriver=${GECKODRIVER:-$(command -v geckodriver || true)}
unset GECKODRIVER SAFARIDRIVER CHROMEDRIVER MSEDGEDRIVER \
  GECKODRIVER_REMOTE SAFARIDRIVER_REMOTE CHROMEDRIVER_REMOTE MSEDGEDRIVER_REMOTE
NEED_X=0
case $ENGINE in
  chromium)
    [ -x "$chromedriver" ] || die "chromedriver missing: apt-get install chromium chromium-driver"
    export CHROMEDRIVER=$chromedriver ;;
  firefox)
    [ -n "$geckodriver" ] && [ -x "$geckodriver" ] || die "geckodriver missing: cargo install geckodriver"
    [ -x /usr/bin/firefox-esr ] || die "firefox-esr missing: apt-get install firefox-esr"
    export GECKODRIVER=$geckodriver ;;
  webkit)
    [ -x "${WEBKIT_WEBDRIVER:-/usr/bin/WebKitWebDriver}" ] || die "WebKitWebDriver missing: apt-get install webkit2gtk-driver"
    command -v Xvfb >/dev/null || die "Xvfb missing: apt-get install xvfb"
    export SAFARIDRIVER="$ROOT/scripts/webkit-driver.sh"
    # MiniBrowser needs an X display: the runner's Safari path sends no capabilities, so
    # webdriver.json cannot make it headless.
    NEED_X=1 ;;
  *) usage ;;
esac

export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/webdriver.json"
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}
export WASM_BINDGEN_TEST_DRIVER_TIMEOUT=${WASM_BINDGEN_TEST_DRIVER_TIMEOUT:-30}

# --- cargo arguments ----------------------------------------------------------------------------
# `--tests` unless the caller chose targets (`--tests --test x` would still run every test).
select_all=1
fail_fast_given=0
for arg in "$@"; do
  case $arg in
    --) break ;;
    --no-fail-fast) fail_fast_given=1 ;;
    --test | --test=* | --tests | --lib | --bin | --bin=* | --bins | --example | --example=* \
      | --examples | --bench | --bench=* | --benches | --all-targets | --doc) select_all=0 ;;
  esac
done
CARGO_ARGS=(test --target wasm32-unknown-unknown)
# Run every test binary even after one fails, so each prints its `test result:` line.
[ "$fail_fast_given" -eq 0 ] && CARGO_ARGS+=(--no-fail-fast)
[ "$select_all" -eq 1 ] && CARGO_ARGS+=(--tests)
CARGO_ARGS+=("$@")

# --- cleanup ------------------------------------------------------------------------------------
# A private TMPDIR: chromedriver is killed before it can delete its browser profile (about 16 MB a
# run), so the run's temp files go here and are removed at the end.
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wasm-test.XXXXXX")
export TMPDIR=$RUN_TMP
# Every process of this run inherits RUN_MARK; anything still carrying it after cargo returns
# (a browser orphaned by its killed driver, a stuck Xvfb) is stopped by its pid.
RUN_MARK="wasm-test-$ENGINE-$$-$(date +%s%N)"
export WASM_TEST_RUN_MARK=$RUN_MARK
# marked_pids [PID...]: the processes of this run, except this shell and the given pids.
marked_pids() {
  local env_file pid entry
  for env_file in /proc/[0-9]*/environ; do
    pid=${env_file#/proc/}; pid=${pid%/environ}
    case " $$ $BASHPID $* " in *" $pid "*) continue ;; esac
    while IFS= read -r -d '' entry; do
      if [ "$entry" = "WASM_TEST_RUN_MARK=$RUN_MARK" ]; then echo "$pid"; break; fi
    done 2>/dev/null <"$env_file"
  done 2>/dev/null
}
XVFB_PID=
# cleanup [GRACE]: waits up to GRACE tenths of a second (30) for the run's processes to exit on
# their own, then stops Xvfb and whatever is left.
cleanup() {
  local pids i
  for i in $(seq 1 "${1:-30}"); do
    pids=$(marked_pids $XVFB_PID)
    [ -z "$pids" ] && break
    sleep 0.1
  done
  if [ -n "$XVFB_PID" ]; then
    kill -TERM "$XVFB_PID" 2>/dev/null
    wait "$XVFB_PID" 2>/dev/null
    XVFB_PID=
  fi
  pids=$(marked_pids)
  if [ -n "$pids" ]; then
    note "stopping leftover processes: $(echo $pids)"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    for i in $(seq 1 20); do
      pids=$(marked_pids)
      [ -z "$pids" ] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null && sleep 0.2
  fi
  rm -rf "$RUN_TMP"
  return 0
}
CHILD=
on_signal() {
  trap - INT TERM
  [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null
  cleanup 1
  exit 130
}
trap on_signal INT TERM

# --- run ----------------------------------------------------------------------------------------
start=$(date +%s.%N)
if [ "$NEED_X" -eq 1 ]; then
  # Our own Xvfb rather than `xvfb-run -a`: -displayfd picks a free display atomically (safe for
  # concurrent runs), and xvfb-run's exit trap sometimes failed (exit 5, masking the test status)
  # and left its Xvfb running. -noreset: no server reset when the last browser disconnects.
  XVFB_DIR=$RUN_TMP/xvfb
  mkdir -p "$XVFB_DIR"
  Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -noreset \
    3>"$XVFB_DIR/display" 2>"$XVFB_DIR/log" </dev/null &
  XVFB_PID=$!
  for _ in $(seq 1 100); do
    grep -q '^[0-9]' "$XVFB_DIR/display" 2>/dev/null && break
    kill -0 "$XVFB_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^[0-9]' "$XVFB_DIR/display" 2>/dev/null; then
    cat "$XVFB_DIR/log" >&2
    cleanup
    die "Xvfb did not start"
  fi
  export DISPLAY=":$(head -n1 "$XVFB_DIR/display")"
  unset XAUTHORITY WAYLAND_DISPLAY
fi
note "$ENGINE$([ "$NEED_X" -eq 1 ] && echo " (Xvfb DISPLAY=$DISPLAY)"): cargo ${CARGO_ARGS[*]}"
cargo "${CARGO_ARGS[@]}" </dev/null &
CHILD=$!
wait "$CHILD"
status=$?
CHILD=
cleanup
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
if [ "$status" -eq 0 ]; then
  note "$ENGINE: ok in ${elapsed} s"
else
  note "$ENGINE: FAILED (exit $status) after ${elapsed} s"
fi
exit "$status"
