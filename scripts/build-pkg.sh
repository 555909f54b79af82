#!/usr/bin/env bash
# Builds the npm package into pkg/ and packs it into target/npm/convex-auth-wasm-<version>.tgz:
#   pkg/web/      wasm-pack --target web (the default export: `await init()` once, then use it;
#                 works in browsers, Vite, esbuild, Rollup)
#   pkg/bundler/  wasm-pack --target bundler (`convex-auth-wasm/bundler`: no init(), for bundlers
#                 with WebAssembly ESM integration such as webpack 5)
#   pkg/package.json, pkg/README.md   from npm/, with the crate's version
# Release profile, wasm-opt -Oz from binaryen 132 in tools/ (first on PATH), JS minified by
# esbuild from tools/, wasm import/export names shortened (scripts/shorten-names.mjs, which
# parses the wasm's sections and checks its work).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
VERSION=$(sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n1)
# Size: the standard library is rebuilt for this build with `optimize_for_size`, panics compile to
# a trap with no message or location (`immediate-abort`: the crate has no reachable panic), and
# Debug formatting is compiled out. These are unstable options of the pinned stable toolchain,
# enabled for this build only (RUSTC_BOOTSTRAP=1, rust-src from scripts/setup.sh), in a target
# directory of its own so that test builds keep their cache. About 10 KB gzip less wasm.
# Reference types are off: wasm-bindgen then keeps JS values in a JS array instead of an externref
# table, which is 0.9 KB gzip less in total (and runs on browsers without reference types).
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$PWD/target/pkg-build"
export RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none -Ctarget-feature=-reference-types"
SIZE_ARGS=(--features small-alloc -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
WASM_FEATURES=(--enable-bulk-memory --enable-multivalue --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-sign-ext)
rm -rf pkg
for target in web bundler; do
  wasm-pack --quiet build --target "$target" --release --out-dir "pkg/$target" --no-pack . -- "${SIZE_ARGS[@]}" 2>&1 | grep -v '^\[INFO\]' || true
  test -f "pkg/$target/convex_auth_wasm_bg.wasm"
  # wasm-opt -Oz from binaryen 132 (tools/), with the features of the Rust target as built
  # (reference types off) and names, producers and target features stripped.
  wasm-opt "${WASM_FEATURES[@]}" -Oz --strip-debug --strip-producers --strip-target-features \
    "pkg/$target/convex_auth_wasm_bg.wasm" -o "pkg/$target/convex_auth_wasm_bg.wasm"
  rm -f "pkg/$target/.gitignore"
  # The raw wasm exports (InitOutput, *_bg.wasm.d.ts) are typed with `any` by wasm-bindgen; no
  # `any` on the published surface: they are `unknown` (nobody should call them directly).
  sed -i 's/\bany\b/unknown/g' "pkg/$target/convex_auth_wasm_bg.wasm.d.ts"
  sed -i '/^export interface InitOutput/,/^}/ s/\bany\b/unknown/g' "pkg/$target/convex_auth_wasm.d.ts"
  # The JS ships minified, as an app's bundler would emit it; exports and imports are kept, and
  # so is the `@ts-self-types` line that points Deno at the types. The web target's glue has
  # src/web/io.js bundled in (one module to fetch before init()); the bundler target keeps the
  # snippet file, which its wasm imports directly. (wasm-bindgen lists a snippet once per import
  # style: a harmless duplicate key.)
  find "pkg/$target" -name '*.js' -print0 | while IFS= read -r -d '' js; do
    banner=$(head -n1 "$js" | grep '@ts-self-types' || true)
    bundle=()
    [ "$target" = web ] && [ "$js" = "pkg/web/convex_auth_wasm.js" ] && bundle=(--bundle)
    esbuild "$js" "${bundle[@]}" --minify --format=esm --log-level=warning \
      --log-override:duplicate-object-key=silent --allow-overwrite --outfile="$js" \
      ${banner:+"--banner:js=$banner"}
  done
  [ "$target" = web ] && rm -rf pkg/web/snippets
  # Short names for the wasm's imports and exports, in the wasm, the JS and the types.
  node scripts/shorten-names.mjs "pkg/$target" >/dev/null
done
sed "s/\"version\": \"0.0.0\"/\"version\": \"$VERSION\"/" npm/package.json > pkg/package.json
cp npm/README.md pkg/README.md
mkdir -p target/npm
rm -f target/npm/convex-auth-wasm-*.tgz
(cd pkg && npm pack --silent --pack-destination ../target/npm >/dev/null)
test -f "target/npm/convex-auth-wasm-$VERSION.tgz"
