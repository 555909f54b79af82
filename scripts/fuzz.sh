#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS]: fuzzes the core's parsing of untrusted input (JWTs, server answers,
# JSON, stored values, storage namespaces) with cargo-fuzz / libFuzzer for SECONDS seconds
# (default 60) and exits non-zero if any input makes it panic or crash.
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its `-Z` flags
# (sanitizer, coverage instrumentation), and stable rust-std ships the AddressSanitizer runtime.
# Fuzzing runs over a copy of the committed seed corpus (fuzz/corpus/untrusted) in a temporary
# directory, so the work tree stays clean; crashing inputs are written to
# fuzz/artifacts/untrusted/ (git-ignored) and printed in base64.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
TARGET=untrusted
DURATION=${1:-60}
if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || [ "$DURATION" -eq 0 ]; then
  echo "usage: $0 [SECONDS]  (a positive whole number of seconds, default 60)" >&2
  exit 2
fi

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC_BOOTSTRAP=1

# cargo-fuzz, pinned; installed only when missing or at another version.
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked
fi

# Release build with debug assertions and overflow checks (-a), under AddressSanitizer when the
# toolchain has its runtime; otherwise without a sanitizer (a Rust panic is caught either way).
SANITIZER=address
echo "== building fuzz target $TARGET (sanitizer: $SANITIZER)"
if ! cargo fuzz build --sanitizer "$SANITIZER" -a "$TARGET"; then
  SANITIZER=none
  echo "== AddressSanitizer build failed; retrying with --sanitizer none" >&2
  cargo fuzz build --sanitizer "$SANITIZER" -a "$TARGET"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -R "fuzz/corpus/$TARGET" "$WORK/corpus"
ARTIFACTS="$PWD/fuzz/artifacts/$TARGET"
mkdir -p "$ARTIFACTS"

echo "== fuzzing $TARGET for ${DURATION}s over a copy of fuzz/corpus/$TARGET ($(ls "$WORK/corpus" | wc -l) seeds)"
set +e
cargo fuzz run --sanitizer "$SANITIZER" -a "$TARGET" "$WORK/corpus" -- \
  -max_total_time="$DURATION" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 2>&1 | tee "$WORK/log"
status=${PIPESTATUS[0]}
set -e

done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$WORK/log" | tail -n1 || true)
if [ "$status" -ne 0 ]; then
  for f in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$WORK/log"); do
    [ -f "$f" ] || continue
    echo "== crashing input $f (base64):"
    base64 -w0 "$f"
    echo
  done
  echo "fuzz: FAILED: target $TARGET crashed or failed (cargo fuzz exit $status); see the log above"
  exit 1
fi
if [ -z "$done_line" ]; then
  echo "fuzz: FAILED: libFuzzer did not report a finished run"
  exit 1
fi
execs=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$WORK/log" | tail -n1)
echo "fuzz: OK: $TARGET ran ${DURATION}s, no crash (sanitizer $SANITIZER, ${execs:-?} exec/s avg): $done_line"
