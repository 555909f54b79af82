#!/usr/bin/env bash
# Type tests of the packed package (after scripts/build-pkg.sh): installs the tarball into types/
# (without saving it: its integrity changes with every build) and runs `tsc --noEmit` over
# types/usage.ts (typical usage, must compile), types/misuse.ts and types/bundler.ts (every misuse
# line carries @ts-expect-error, so tsc fails if one of them compiles); then loads the default entry
# (SSR) and runs the bundler entry in Node.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
TARBALL=$(package_tarball)
# No `any` anywhere in the published declarations.
if grep -nE '(:|=>|<|\||&)\s*any\b|\bany\[\]' "$PWD"/pkg/*/*.d.ts; then echo "types: \`any\` in the published .d.ts" >&2; exit 1; fi
cd types
npm install --no-save --no-audit --no-fund --loglevel=error "$TARBALL" >/dev/null
npx --no-install tsc -p . && echo "types: usage compiles, every misuse is rejected"
# Server-side rendering imports the package in Node: the default entry must load without
# touching browser globals (the .wasm is only fetched by init()).
node --input-type=module -e "const m = await import('convex-auth-wasm'); if (typeof m.ConvexAuthClient !== 'function' || typeof m.default !== 'function') process.exit(1);" \
  && echo "types: the default entry imports in Node (SSR)"
# The bundler entry, through Node's WebAssembly ESM integration (as webpack 5 links it): every
# import of the wasm resolves (scripts/shorten-names.mjs renamed them) and a client works.
node --experimental-wasm-modules --no-warnings --input-type=module -e "
const { ConvexAuthClient } = await import('convex-auth-wasm/bundler');
const auth = new ConvexAuthClient({ url: 'http://127.0.0.1:9', storage: 'memory' });
await auth.ready();
if (auth.getSnapshot().isLoading !== false) process.exit(1);
let code;
try { new ConvexAuthClient({ url: 5 }); } catch (e) { code = e.code; }
if (code !== 'InvalidOptions') process.exit(1);
auth.free();" \
  && echo "types: the bundler entry links and runs in Node (wasm ESM integration)"
