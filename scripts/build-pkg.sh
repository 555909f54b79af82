#!/usr/bin/env bash
# Builds the npm package into pkg/ and packs it into target/npm/convex-auth-wasm-<version>.tgz:
#   pkg/web/      wasm-pack --target web (the default export: `await init()` once, then use it;
#                 works in browsers, Vite, esbuild, Rollup)
#   pkg/bundler/  wasm-pack --target bundler (`convex-auth-wasm/bundler`: no init(), for bundlers
#                 with WebAssembly ESM integration such as webpack 5)
#   pkg/package.json, pkg/README.md   from npm/, with the crate's version
# Release profile, wasm-opt -Oz from binaryen 132 in tools/ (first on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
VERSION=$(sed -n 's/^version = "\([^"]*\)"/\1/p' Cargo.toml | head -n1)
rm -rf pkg
for target in web bundler; do
  wasm-pack --quiet build --target "$target" --release --out-dir "pkg/$target" --no-pack 2>&1 | grep -v '^\[INFO\]' || true
  test -f "pkg/$target/convex_auth_wasm_bg.wasm"
  rm -f "pkg/$target/.gitignore"
  # The raw wasm exports (InitOutput, *_bg.wasm.d.ts) are typed with `any` by wasm-bindgen; no
  # `any` on the published surface: they are `unknown` (nobody should call them directly).
  sed -i 's/\bany\b/unknown/g' "pkg/$target/convex_auth_wasm_bg.wasm.d.ts"
  sed -i '/^export interface InitOutput/,/^}/ s/\bany\b/unknown/g' "pkg/$target/convex_auth_wasm.d.ts"
done
sed "s/\"version\": \"0.0.0\"/\"version\": \"$VERSION\"/" npm/package.json > pkg/package.json
cp npm/README.md pkg/README.md
mkdir -p target/npm
rm -f target/npm/convex-auth-wasm-*.tgz
(cd pkg && npm pack --silent --pack-destination ../target/npm >/dev/null)
test -f "target/npm/convex-auth-wasm-$VERSION.tgz"
