#!/usr/bin/env node
// `make bench` (scripts/bench.sh builds the package first): measures the built package in pkg/
// and prints one markdown table; writes bench/results.json and bench/results.md.
//
//   1. bundle size: ours (wasm + JS glue) against peer auth clients bundled with esbuild as in
//      shared/PEERS.md §2, the official Convex Auth v2 client (@convex-dev/auth 2.0.0) among
//      them; gzip = the GNU `gzip -9 -n` CLI, brotli = Node zlib quality 11
//   2. cold start in headless Chromium: `await init()` and constructor → `ready()`, 30 loads
//   3. backend requests per page load with a stored, valid session; and per reload on v2, ours
//      beside the official v2 browser client driven by `ConvexClient`
//   4. refresh coalescing: 1, 2, 4 tabs × 3 concurrent forced callers, 5 rotations each, on v1
//      and on v2
//   5. hot path: getSnapshot(), .token, fetchAccessToken({forceRefreshToken: false})
//   6. wasm linear memory before and after subscribe/unsubscribe cycles, reads and refreshes
//
// Pages are served from loopback by www/serve.mjs (TEST_PAGES_DIR=bench/out/pages, at /test/:
// bench/pages/ plus the official v2 client's page bundle); the backends are the local ones
// (www/backend/main.mjs for v1, www/v2/backend/main.mjs for v2; both serve the WebSocket sync
// endpoint the official reactive clients speak). Intermediate files go
// to bench/out/.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { CHROMIUM_OPTIONS, freePort, startNode as startProcess, stop } from "../pkg-tests/processes.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = `${ROOT}bench/`;
const OUT = `${BENCH}out/`;
const PAGES = `${OUT}pages/`;
const PAGE = "/test/bench.html";
const OFFICIAL_V2_PAGE = "/test/official-v2.html";
const started = Date.now();
const loadAtStart = os.loadavg()[0];

// ---- settings (also written to results.json) ----
const LOADS = 30; // measured page loads (after WARMUP_LOADS unmeasured ones)
const WARMUP_LOADS = 2;
const COALESCE_JWT_MS = 60_000;
const COALESCE_TABS = [1, 2, 4];
const COALESCE_CALLERS = 3;
const COALESCE_ROTATIONS = 5;
const RELOADS_V2 = 10; // measured reloads on v2, ours and the official client's each
const RELOADS_ATTACHED = 10; // measured reloads with the reactive client attached, per mode
const ATTACHED_PAGE = "/test/attached.html";
const V2_JWT_MS = 3_600_000; // v2 backend for the reloads: the longest lifetime 2.0 allows
const COALESCE_V2_JWT_MS = 60_000; // 2.0's default access-token lifetime
const HOT_RUNS = 5;
const HOT_SYNC_N = 100_000;
const HOT_ASYNC_N = 10_000;
const MEM_SUBSCRIBE_CYCLES = 10_000;
const MEM_READS = 1_000;
const MEM_REFRESH_MS = 20_000;
const PASSWORD = "correct horse battery";
// The official client refreshes once on every page load (shared/PROTOCOL.md §3.1 (a):
// AuthenticationManager forces a refresh after the server confirms the cached JWT).
const OFFICIAL_REQUESTS_PER_LOAD = 1;
// PROTOCOL-V2.md §4: the official v2 client has no timer; the convex client's
// AuthenticationManager forces a refresh on every page load (`initialAuthTokenReuse` false).
const OFFICIAL_V2_DOCUMENTED_PER_LOAD = 1;

// ---- small helpers ----
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sorted = (xs) => [...xs].sort((a, b) => a - b);
function median(xs) {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const p95 = (xs) => sorted(xs)[Math.ceil(0.95 * xs.length) - 1]; // nearest rank
const round = (x, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const stats = (xs) => ({
  median: round(median(xs)),
  p95: round(p95(xs)),
  min: round(Math.min(...xs)),
  max: round(Math.max(...xs)),
});
const fmt = (n) => n.toLocaleString("en-US");
const fmtBytes = (n) => `${fmt(n)} B`;
const kib = (n) => `${round(n / 1024, 1)} KiB`;

// gzip: GNU gzip -9 -n, as PEERS.md §2 measured (`gzip -9 -c file`, which also stores the file
// name: a few bytes more); -n and stdin keep name and time out of the header.
const gzipSize = (buf) => execFileSync("gzip", ["-9", "-n", "-c"], { input: buf, maxBuffer: 1 << 26 }).length;
function sizes(buf) {
  return {
    raw: buf.length,
    gzip: gzipSize(buf),
    brotli: zlib.brotliCompressSync(buf, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}
const gzipVersion = () => execFileSync("gzip", ["--version"], { encoding: "utf8" }).split("\n")[0].trim();
const addSizes = (a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli });
const pkgVersion = (name) => JSON.parse(readFileSync(`${BENCH}node_modules/${name}/package.json`, "utf8")).version;
// @convex-dev/auth 2.0.0 is installed beside 0.0.95 under an npm alias; esbuild's `alias` maps
// the specifiers an app writes (`@convex-dev/auth/browser`…) onto it.
const V2_ALIAS = { "@convex-dev/auth": "@convex-dev/auth-v2" };
const V2_INSTALLED = `${BENCH}node_modules/@convex-dev/auth-v2/`;
const v2DepVersion = (name) => JSON.parse(readFileSync(`${V2_INSTALLED}node_modules/${name}/package.json`, "utf8")).version;

// ---- 1. bundle size ----

const ESBUILD_OPTIONS = {
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "error",
  absWorkingDir: BENCH,
};

// PEERS.md §2: one entry per peer importing the client the way an app does, assigned to
// window.__x so nothing is tree-shaken away.
const PEERS = [
  {
    id: "convex-auth-react",
    label: "@convex-dev/auth/react (auth layer only)",
    package: "@convex-dev/auth",
    imports: ["ConvexAuthProvider", "useAuthActions", "useAuthToken"],
    from: "@convex-dev/auth/react",
    external: ["react", "react-dom", "convex"],
  },
  {
    id: "better-auth",
    label: "better-auth client (`better-auth/client`)",
    package: "better-auth",
    imports: ["createAuthClient"],
    from: "better-auth/client",
    external: [],
  },
  {
    id: "oidc-client-ts",
    label: "oidc-client-ts",
    package: "oidc-client-ts",
    imports: ["UserManager"],
    from: "oidc-client-ts",
    external: [],
  },
  {
    id: "supabase-auth-js",
    label: "@supabase/auth-js",
    package: "@supabase/auth-js",
    imports: ["AuthClient"],
    from: "@supabase/auth-js",
    external: [],
  },
  // Convex Auth v2 (PROTOCOL-V2.md §4): its browser building blocks; the same with the
  // email + password glue a non-React app writes (bench/entries/, since 2.0 ships method logic
  // only as React hooks); its React passkey hooks, which bring @simplewebauthn/browser.
  {
    id: "convex-auth-v2-browser",
    label: "@convex-dev/auth/browser",
    note: "(Convex Auth v2 building blocks: `AuthClient, defaultStorage`)",
    package: "@convex-dev/auth",
    installedAs: "@convex-dev/auth-v2",
    imports: ["AuthClient", "defaultStorage"],
    from: "@convex-dev/auth/browser",
    external: ["convex"],
    alias: V2_ALIAS,
    documented: "about 2.7 KB",
  },
  {
    id: "convex-auth-v2-email-password",
    label: "@convex-dev/auth/browser",
    note: "+ the email-password glue a non-React app writes (`bench/entries/official-v2-email-password.js`)",
    package: "@convex-dev/auth",
    installedAs: "@convex-dev/auth-v2",
    file: "entries/official-v2-email-password.js",
    entry: "AuthClient, defaultStorage from @convex-dev/auth/browser; ConvexHttpClient, anyApi from convex (external); sign-in, sign-up + completion, password recovery, ConvexClient wiring and session watcher",
    external: ["convex"],
    alias: V2_ALIAS,
    documented: "about 3.1 KB",
  },
  {
    id: "convex-auth-v2-react-passkey",
    label: "@convex-dev/auth/methods/username-passkey/react",
    note: "(v2 React passkey hooks with @simplewebauthn/browser, `bench/entries/official-v2-react-passkey.js`)",
    package: "@convex-dev/auth",
    installedAs: "@convex-dev/auth-v2",
    file: "entries/official-v2-react-passkey.js",
    entry: 'import { useSignInWithUsernamePasskey, useAddPasskey, useRemovePasskey } from "@convex-dev/auth/methods/username-passkey/react"',
    external: ["react", "react-dom", "convex"],
    alias: V2_ALIAS,
    documented: "about 5.7 KB",
  },
];

// The .js files under `dir`, recursively.
const jsFiles = (dir) =>
  readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith(".js"))
    .map((f) => `${dir}/${f}`);

// `imports`: the named exports to import; "default" is imported as `init` (our glue's init()).
async function bundle(id, imports, from, external, alias) {
  mkdirSync(`${OUT}bundle`, { recursive: true });
  const entry = `${OUT}bundle/${id}.entry.js`;
  const specifiers = imports.map((i) => (i === "default" ? "default as init" : i));
  const locals = imports.map((i) => (i === "default" ? "init" : i));
  writeFileSync(entry, `import { ${specifiers.join(", ")} } from ${JSON.stringify(from)};\nwindow.__x = { ${locals.join(", ")} };\n`);
  return bundleEntry(id, entry, external, alias);
}

// An entry file (ours or bench/entries/), minified as PEERS.md §2 says.
async function bundleEntry(id, entry, external, alias) {
  mkdirSync(`${OUT}bundle`, { recursive: true });
  const outfile = `${OUT}bundle/${id}.min.js`;
  await esbuild.build({ ...ESBUILD_OPTIONS, entryPoints: [entry], outfile, external, ...(alias ? { alias } : {}) });
  return sizes(readFileSync(outfile));
}

async function bundleSizes() {
  log("bundle sizes (esbuild)");
  const wasm = sizes(readFileSync(`${ROOT}pkg/web/convex_auth_wasm_bg.wasm`));
  // As shipped: every .js of pkg/web (the minified glue, src/web/io.js bundled in), each
  // compressed on its own as it is served (what scripts/size-check.sh budgets).
  const glue = jsFiles(`${ROOT}pkg/web`).map((f) => sizes(readFileSync(f))).reduce(addSizes);
  // The glue through the same esbuild pipeline as the peers, imported as an app does.
  const glueMinified = await bundle(
    "convex-auth-wasm-glue",
    ["default", "ConvexAuthClient"],
    `${ROOT}pkg/web/convex_auth_wasm.js`,
    [],
  );
  const total = addSizes(wasm, glueMinified);
  const totalRawGlue = addSizes(wasm, glue);
  const peers = [];
  for (const p of PEERS) {
    const s = p.file
      ? await bundleEntry(p.id, `${BENCH}${p.file}`, p.external, p.alias)
      : await bundle(p.id, p.imports, p.from, p.external, p.alias);
    peers.push({
      id: p.id,
      label: p.label,
      ...(p.note ? { note: p.note } : {}),
      package: p.package,
      version: pkgVersion(p.installedAs ?? p.package),
      ...(p.installedAs ? { installedAs: p.installedAs } : {}),
      entry: p.file ? `bench/${p.file}: ${p.entry}` : `import { ${p.imports.join(", ")} } from "${p.from}"`,
      external: p.external,
      minified: s.raw,
      gzip: s.gzip,
      brotli: s.brotli,
      oursOverPeerGzip: round(total.gzip / s.gzip),
      ...(p.documented ? { documented: `${p.documented} gzip (PROTOCOL-V2.md §4)` } : {}),
    });
  }
  return { wasm, glue, glueMinified, total, totalRawGlue, peers };
}

// ---- processes ----

const children = [];
const startNode = (script, env) => startProcess(script, env, children);

function backendApi(url) {
  const call = async (method, path) => (await fetch(`${url}${path}`, { method })).json();
  return {
    url,
    requests: () => call("GET", "/_test/requests"),
    outbox: (to) => call("GET", `/_test/outbox?to=${encodeURIComponent(to)}`),
  };
}

// ---- browser helpers ----

let emails = 0;
const signUp = (page) =>
  page.evaluate(
    ([email, password]) => window.auth.signIn("password", { email, password, flow: "signUp" }),
    [`bench-${process.pid}-${++emails}@example.com`, PASSWORD],
  );
// v2: an email sign-up only sends a link (PROTOCOL-V2.md §2); username + password signs in at once.
const signUpV2 = (page) =>
  page.evaluate(
    ([username, password]) => window.auth.signIn("username-password", { username, password, flow: "signUp" }),
    [`bench${process.pid}x${++emails}`, PASSWORD],
  );

// `query`: more of the page's query string (`&version=v2`).
async function open(context, pageUrl, backendUrl, page, query = "") {
  page ??= await context.newPage();
  const trouble = [];
  page.on("pageerror", (e) => trouble.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && trouble.push(`console: ${m.text()} ${m.location()?.url ?? ""}`));
  page.on("requestfailed", (r) => trouble.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ""}`));
  const started = Date.now();
  await page.goto(`${pageUrl}${PAGE}?url=${encodeURIComponent(backendUrl)}${query}`);
  try {
    await page.waitForFunction(() => window.readyDone === true, null, { timeout: 30_000 });
  } catch (error) {
    const state = await page.evaluate(() => ({ bench: window.bench, hasAuth: !!window.auth, hasWasm: !!window.wasm })).catch(() => null);
    throw new Error(`the bench page was not ready after ${Date.now() - started} ms: ${JSON.stringify({ state, trouble })}`, { cause: error });
  }
  return page;
}

// ---- 2 + 3. cold start and requests per load ----

async function coldStart(browser, pageUrl, backend) {
  log(`cold start: ${WARMUP_LOADS} + ${LOADS} page loads with a stored session`);
  const context = await browser.newContext();
  let browserRequests = 0;
  context.on("request", (r) => {
    if (r.url().startsWith(backend.url)) browserRequests++;
  });
  const first = await open(context, pageUrl, backend.url);
  const signedIn = await signUp(first);
  if (!signedIn?.signingIn) throw new Error(`sign-up failed: ${JSON.stringify(signedIn)}`);
  await first.close();
  const samples = { initMs: [], readyMs: [], navToReadyMs: [] };
  let since = 0;
  for (let i = 0; i < WARMUP_LOADS + LOADS; i++) {
    if (i === WARMUP_LOADS) {
      since = (await backend.requests()).length;
      browserRequests = 0;
    }
    // A fresh tab per load: the previous one is closed first, so no tab is left to share with.
    const page = await open(context, pageUrl, backend.url);
    const b = await page.evaluate(() => window.bench);
    await page.close();
    if (!b.isAuthenticated) throw new Error(`load ${i}: the stored session was not adopted`);
    if (i < WARMUP_LOADS) continue;
    samples.initMs.push(b.initMs);
    samples.readyMs.push(b.readyMs);
    samples.navToReadyMs.push(b.navToReadyMs);
  }
  await sleep(200); // anything a closed tab might still have sent
  const backendLog = (await backend.requests()).slice(since);
  return {
    context,
    coldStart: {
      loads: LOADS,
      warmupLoads: WARMUP_LOADS,
      initMs: stats(samples.initMs),
      readyMs: stats(samples.readyMs),
      navToReadyMs: stats(samples.navToReadyMs),
      samples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((x) => round(x))])),
    },
    requestsPerLoad: {
      loads: LOADS,
      backendLoggedRequests: backendLog.length,
      browserRequestsToBackend: browserRequests,
      perLoad: round(Math.max(backendLog.length, browserRequests) / LOADS),
      officialPerLoad: OFFICIAL_REQUESTS_PER_LOAD,
      officialSource:
        "shared/PROTOCOL.md §3.1 (a): the convex client's AuthenticationManager forces one refresh after the server confirms the cached JWT on every page load (not measured here)",
    },
  };
}

// ---- 3b. requests per reload on Convex Auth v2: ours and the official client ----

// A tab signed in, then RELOADS_V2 reloads of it, each waited for (`done`: the page's flag);
// counts the backend's request log and the browser's requests to the backend's origin.
async function countReloads(context, page, backend, done, check, reloads = RELOADS_V2) {
  let browserRequests = 0;
  const onRequest = (r) => r.url().startsWith(backend.url) && browserRequests++;
  await sleep(200);
  const since = (await backend.requests()).length;
  context.on("request", onRequest);
  const perLoad = [];
  for (let i = 0; i < reloads; i++) {
    await page.reload();
    await page.waitForFunction(done, null, { timeout: 30_000 });
    const b = await page.evaluate(() => window.bench);
    check(b, i);
    perLoad.push(b);
  }
  await sleep(300); // anything still on its way
  context.off("request", onRequest);
  const backendLog = (await backend.requests()).slice(since);
  return { backendLog, browserRequests, perLoad };
}

async function reloadsV2(browser, pageUrl, backend) {
  log(`requests per reload on v2: ours, ${RELOADS_V2} reloads`);
  const context = await browser.newContext();
  const page = await open(context, pageUrl, backend.url, undefined, "&version=v2");
  const signedIn = await signUpV2(page);
  if (!signedIn?.signingIn) throw new Error(`v2 sign-up failed: ${JSON.stringify(signedIn)}`);
  const ours = await countReloads(context, page, backend, () => window.readyDone === true, (b, i) => {
    if (!b.isAuthenticated) throw new Error(`v2 reload ${i}: the stored session was not adopted`);
  });
  await context.close();
  return {
    reloads: RELOADS_V2,
    jwtDurationMs: V2_JWT_MS,
    backendLoggedRequests: ours.backendLog.length,
    browserRequestsToBackend: ours.browserRequests,
    perReload: round(Math.max(ours.backendLog.length, ours.browserRequests) / RELOADS_V2),
  };
}

// The official v2 client (bench/entries/official-v2-page.js) with `ConvexClient`: signed up by
// its own email + password glue (the emailed code read from the backend's outbox), then
// reloaded. Its refreshes are the backend's `refresh` requests (over HTTP or the sync socket).
async function officialReloadsV2(browser, pageUrl, backend) {
  log(`requests per reload on v2: the official client with ConvexClient, ${RELOADS_V2} reloads`);
  const context = await browser.newContext();
  const page = await context.newPage();
  const trouble = [];
  page.on("pageerror", (e) => trouble.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && trouble.push(`console: ${m.text()}`));
  const settled = () => window.settledDone === true;
  try {
    await page.goto(`${pageUrl}${OFFICIAL_V2_PAGE}?url=${encodeURIComponent(backend.url)}`);
    await page.waitForFunction(() => window.readyDone === true, null, { timeout: 30_000 });
    const email = `bench-official-${process.pid}-${++emails}@example.com`;
    const started = await page.evaluate(([email, password]) => window.auth.signUp({ email, password }), [email, PASSWORD]);
    if (!started?.success) throw new Error(`sign-up failed: ${JSON.stringify(started)}`);
    const emailCode = (await backend.outbox(email)).messages.at(-1)?.code;
    const completed = await page.evaluate((emailCode) => window.auth.completeSignUp({ emailCode }), emailCode);
    if (completed?.status !== "complete") throw new Error(`sign-up completion failed: ${JSON.stringify(completed)}`);
    await page.waitForFunction(settled, null, { timeout: 30_000 });
    const official = await countReloads(context, page, backend, settled, (b, i) => {
      if (!b.isAuthenticated || b.confirmed !== true) throw new Error(`reload ${i}: not signed in or not confirmed: ${JSON.stringify(b)}`);
    });
    const refreshes = official.backendLog.filter((e) => e.kind === "refresh");
    const other = official.backendLog.length - refreshes.length;
    return {
      measured: true,
      client: `@convex-dev/auth/browser ${pkgVersion("@convex-dev/auth-v2")} (bench/entries/official-v2-email-password.js) + ConvexClient (convex ${pkgVersion("convex-1.51")})`,
      reloads: RELOADS_V2,
      refreshRequests: refreshes.length,
      refreshRequestsByStatus: Object.fromEntries([...new Set(refreshes.map((e) => e.status))].map((st) => [st, refreshes.filter((e) => e.status === st).length])),
      perReload: round(refreshes.length / RELOADS_V2),
      forcedFetchAccessTokenCalls: official.perLoad.reduce((a, b) => a + b.forcedCalls, 0),
      otherClientRequests: other,
      browserRequestsToBackend: official.browserRequests,
      pageErrors: official.perLoad.flatMap((b) => b.errors),
    };
  } catch (error) {
    log(`note: the official v2 client could not be measured: ${error.message} ${JSON.stringify(trouble)}`);
    return { measured: false, error: String(error.message), trouble, perReload: OFFICIAL_V2_DOCUMENTED_PER_LOAD };
  } finally {
    await context.close();
  }
}

// ---- 3c. requests per reload with the official reactive client attached (v1) ----

// pages/attached.html: the package's client with convex's ConvexClient attached (`attach`),
// signed up, then RELOADS_ATTACHED reloads, each waited for until the backend confirmed the token
// (and 1.5 s more); with the ConvexClient's defaults, and with its `initialAuthTokenReuse: true`.
async function reloadsAttached(browser, pageUrl, backend) {
  const out = { reloads: RELOADS_ATTACHED };
  for (const reuse of [false, true]) {
    log(`requests per reload with ConvexClient attached${reuse ? " (initialAuthTokenReuse)" : ""}: ${RELOADS_ATTACHED} reloads`);
    const context = await browser.newContext();
    const page = await context.newPage();
    const settled = () => window.settledDone === true;
    await page.goto(`${pageUrl}${ATTACHED_PAGE}?url=${encodeURIComponent(backend.url)}${reuse ? "&reuse=1" : ""}`);
    await page.waitForFunction(() => window.readyDone === true, null, { timeout: 30_000 });
    const signedIn = await signUp(page);
    if (!signedIn?.signingIn) throw new Error(`sign-up failed: ${JSON.stringify(signedIn)}`);
    await page.waitForFunction(settled, null, { timeout: 30_000 });
    const r = await countReloads(context, page, backend, settled, (b, i) => {
      if (!b?.confirmed) throw new Error(`reload ${i}: the backend did not confirm the token`);
    }, RELOADS_ATTACHED);
    await context.close();
    const refreshes = r.backendLog.filter((e) => e.kind === "refresh").length;
    out[reuse ? "initialAuthTokenReuse" : "defaults"] = {
      backendLoggedRequests: r.backendLog.length,
      refreshRequests: refreshes,
      browserRequestsToBackend: r.browserRequests,
      perReload: round(r.backendLog.length / RELOADS_ATTACHED),
    };
  }
  return out;
}

// ---- 4. refresh coalescing ----

async function coalescing(browser, pageUrl, backend, { version = "v1", rotations = COALESCE_ROTATIONS, jwtDurationMs = COALESCE_JWT_MS } = {}) {
  const configs = [];
  // Rotations that did not go 1 request → 1 token for every caller, with the details.
  const anomalies = [];
  const query = version === "v2" ? "&version=v2" : "";
  for (const tabs of COALESCE_TABS) {
    log(`coalescing (${version}): ${tabs} tab(s) × ${COALESCE_CALLERS} callers × ${rotations} rotations`);
    const context = await browser.newContext();
    const pages = [await open(context, pageUrl, backend.url, undefined, query)];
    const signedIn = await (version === "v2" ? signUpV2 : signUp)(pages[0]);
    if (version === "v2" && !signedIn?.signingIn) throw new Error(`v2 sign-up failed: ${JSON.stringify(signedIn)}`);
    for (let i = 1; i < tabs; i++) pages.push(await open(context, pageUrl, backend.url, undefined, query));
    const perRotation = [];
    const distinctTokens = [];
    // What each tab's callers were last handed: a forced call must answer something else.
    let handed = pages.map(() => new Set());
    for (let r = 0; r < rotations; r++) {
      await sleep(200); // let the tabs settle on the last rotation's token
      const since = (await backend.requests()).length;
      // Every tab starts its callers at the same wall-clock instant, 300 ms from now (`held`:
      // the tab's token just before).
      const at = Date.now() + 300;
      const byTab = await Promise.all(
        pages.map((p) =>
          p.evaluate(async ([n, at]) => {
            await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
            const held = window.auth.token;
            const errorsBefore = window.errors.length;
            const got = await Promise.all(
              Array.from({ length: n }, () => window.auth.fetchAccessToken({ forceRefreshToken: true })),
            );
            return { held, got, errors: window.errors.slice(errorsBefore) };
          }, [COALESCE_CALLERS, at]),
        ),
      );
      await sleep(200); // a refresh still on its way would be counted too
      const sent = (await backend.requests()).slice(since).filter((e) => e.kind === "refresh");
      const tokens = byTab.flatMap((t) => t.got);
      perRotation.push(sent.length);
      distinctTokens.push(new Set(tokens).size);
      const short = (t) => (t ? `…${t.slice(-6)}` : String(t));
      const bad = byTab.filter((t, i) => t.got.some((g) => !g || handed[i].has(g)));
      handed = byTab.map((t) => new Set(t.got));
      const errors = byTab.flatMap((t) => t.errors);
      if (sent.length !== 1 || bad.length > 0 || errors.length > 0 || new Set(tokens).size !== 1) {
        anomalies.push({
          tabs,
          rotation: r + 1,
          refreshRequests: sent.map((e) => ({ status: e.status, fault: e.fault, atMs: e.at - sent[0].at })),
          heldByTab: byTab.map((t) => short(t.held)),
          gotByTab: byTab.map((t) => t.got.map(short)),
          errorEvents: errors,
          oldTokenAnswered: bad.length > 0,
        });
        log(`note: ${JSON.stringify(anomalies.at(-1))}`);
      }
    }
    await context.close();
    const total = perRotation.reduce((a, b) => a + b, 0);
    configs.push({
      tabs,
      callersPerTab: COALESCE_CALLERS,
      forcedCallsPerRotation: tabs * COALESCE_CALLERS,
      rotations,
      refreshRequests: total,
      refreshRequestsPerRotation: round(total / rotations),
      refreshRequestsByRotation: perRotation,
      distinctTokensByRotation: distinctTokens,
    });
  }
  return { ...(version === "v2" ? { version } : {}), jwtDurationMs, configs, anomalies };
}

// ---- 5. hot path ----

async function hotPath(context, pageUrl, backend) {
  log("hot path");
  const page = await open(context, pageUrl, backend.url);
  const syncLoop = (which, n) =>
    page.evaluate(
      ([which, n]) => {
        const auth = window.auth;
        let sink;
        const t0 = performance.now();
        if (which === "getSnapshot") for (let i = 0; i < n; i++) sink = auth.getSnapshot();
        else for (let i = 0; i < n; i++) sink = auth.token;
        const t1 = performance.now();
        window.sink = sink;
        return ((t1 - t0) * 1e6) / n;
      },
      [which, n],
    );
  const asyncLoop = (n) =>
    page.evaluate(async (n) => {
      const auth = window.auth;
      const expected = auth.token;
      let sink;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) sink = await auth.fetchAccessToken({ forceRefreshToken: false });
      const t1 = performance.now();
      if (sink !== expected) throw new Error("fetchAccessToken(false) did not return the current token");
      return ((t1 - t0) * 1e6) / n;
    }, n);
  const measure = async (run) => {
    await run(); // warm-up (JIT, caches)
    const runs = [];
    for (let i = 0; i < HOT_RUNS; i++) runs.push(await run());
    return runs.map((x) => round(x, 1));
  };
  const result = {};
  for (const [key, n, run] of [
    ["getSnapshot", HOT_SYNC_N, () => syncLoop("getSnapshot", HOT_SYNC_N)],
    ["token", HOT_SYNC_N, () => syncLoop("token", HOT_SYNC_N)],
    ["fetchAccessToken", HOT_ASYNC_N, () => asyncLoop(HOT_ASYNC_N)],
  ]) {
    const runs = await measure(run);
    result[key] = { callsPerRun: n, runs: HOT_RUNS, nsPerCall: round(median(runs), 1), nsPerCallByRun: runs };
  }
  await page.close();
  return result;
}

// ---- 6. memory ----

async function memory(context, pageUrl, backend) {
  log(`memory (includes ${MEM_REFRESH_MS / 1000} s of forced refreshes)`);
  const page = await open(context, pageUrl, backend.url);
  const bytes = () => page.evaluate(() => window.wasm.memory.buffer.byteLength);
  // Before each reading: a full GC through the DevTools protocol, then a few tasks for
  // wasm-bindgen's FinalizationRegistry to free the Rust side of collected closures (each
  // unsubscribe function is one). Without it a reading depends on when V8 happened to collect.
  const cdp = await context.newCDPSession(page);
  const collect = async () => {
    for (let i = 0; i < 3; i++) {
      await cdp.send("HeapProfiler.collectGarbage");
      await page.evaluate(() => new Promise((r) => setTimeout(r, 20)));
    }
  };
  const stages = [];
  const mark = async (id, stage) => {
    await collect();
    const b = await bytes();
    stages.push({ id, stage, bytes: b, growthBytes: b - (stages[0]?.bytes ?? b) });
  };
  await mark("ready", "after ready() (signed in, stored session)");
  const cycles = () =>
    page.evaluate((n) => {
      for (let i = 0; i < n; i++) {
        const unsubscribe = window.auth.subscribe(() => {});
        unsubscribe();
      }
    }, MEM_SUBSCRIBE_CYCLES);
  await cycles();
  await mark("subscribe", `after ${fmt(MEM_SUBSCRIBE_CYCLES)} subscribe/unsubscribe cycles`);
  // A second round tells a one-off growth (allocator pages) from a per-cycle leak.
  await cycles();
  await mark("subscribeAgain", `after ${fmt(MEM_SUBSCRIBE_CYCLES)} more subscribe/unsubscribe cycles`);
  await page.evaluate(async (n) => {
    for (let i = 0; i < n; i++) await window.auth.fetchAccessToken({ forceRefreshToken: false });
    for (let i = 0; i < n; i++) window.auth.getSnapshot();
  }, MEM_READS);
  await mark("reads", `after ${fmt(MEM_READS)} fetchAccessToken(false) + ${fmt(MEM_READS)} getSnapshot()`);
  const since = (await backend.requests()).length;
  const refreshed = await page.evaluate(async (ms) => {
    const seen = new Set([window.auth.token]);
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < ms) {
      const t = await window.auth.fetchAccessToken({ forceRefreshToken: true });
      if (!t || seen.has(t)) throw new Error("a forced refresh returned no token or an old one");
      seen.add(t);
      n++;
    }
    return { n, ms: performance.now() - t0 };
  }, MEM_REFRESH_MS);
  const backendRefreshes = (await backend.requests()).slice(since).filter((e) => e.kind === "refresh").length;
  await mark("refreshes", `after ${MEM_REFRESH_MS / 1000} s of sequential forced refreshes`);
  await cdp.detach();
  await page.close();
  return {
    pageSizeBytes: 65_536,
    stages,
    forcedRefreshes: { count: refreshed.n, durationMs: Math.round(refreshed.ms), backendRefreshRequests: backendRefreshes },
    note:
      `1,000 forced refreshes would take ~1,000 s (each waits for a JWT in a new second), so this runs ` +
      `${fmt(MEM_READS)} non-forced fetchAccessToken + ${fmt(MEM_READS)} getSnapshot, then sequential ` +
      `forced refreshes (real rotations, each a new JWT) for ${MEM_REFRESH_MS / 1000} s, all in one tab. ` +
      `Each reading follows a forced GC (DevTools protocol), so closures released by unsubscribe functions are freed first.`,
  };
}

// ---- the table ----

function table(r) {
  const b = r.bundle;
  const trio = (s) => `${fmt(s.raw)} / **${fmt(s.gzip)}** / ${fmt(s.brotli)}`;
  const rows = [
    ["Benchmark", "Measure", "convex-auth-wasm", "Comparison"],
    ["Bundle (bytes: raw / gzip -9 / brotli-11)", "wasm `convex_auth_wasm_bg.wasm` (wasm-opt -Oz)", trio(b.wasm), ""],
    ["", "JS as shipped: minified glue with the crate's JS modules bundled in", trio(b.glue), ""],
    ["", "JS bundled by esbuild (PEERS.md §2 flags)", trio(b.glueMinified), ""],
    ["", "**total: wasm + bundled JS**", trio(b.total), `${kib(b.total.gzip)} gzip`],
    ["", "total: wasm + JS as shipped (`make test` budget)", trio(b.totalRawGlue), ""],
  ];
  for (const p of b.peers) {
    rows.push([
      "",
      `peer: ${p.label} ${p.version}${p.note ? ` ${p.note}` : ""} (minified / gzip / brotli)`,
      `${fmt(p.minified)} / **${fmt(p.gzip)}** / ${fmt(p.brotli)}`,
      `ours/peer gzip = **${p.oursOverPeerGzip}×**${p.documented ? `; documented: ${p.documented}` : ""}`,
    ]);
  }
  const c = r.coldStart;
  const ms = (s) => `median **${s.median} ms**, p95 ${s.p95} ms`;
  rows.push(
    [`Cold start (${c.loads} fresh tabs, stored session)`, "(a) `await init()`: wasm fetch + compile + instantiate", ms(c.initMs), ""],
    ["", "(b) constructor → `await auth.ready()`", ms(c.readyMs), ""],
    ["", "navigation start → `ready()` resolved", ms(c.navToReadyMs), ""],
  );
  const q = r.requestsPerLoad;
  rows.push([
    "Requests per page load (valid stored session)",
    `backend requests in ${q.loads} loads`,
    `**${q.perLoad}** per load (${q.backendLoggedRequests} logged by the backend, ${q.browserRequestsToBackend} seen by the browser)`,
    `official @convex-dev/auth/react: ${q.officialPerLoad} per load (a refresh; PROTOCOL.md §3.1)`,
  ]);
  const v = r.requestsPerReloadV2;
  const o = v.official;
  rows.push([
    "Requests per page reload, Convex Auth v2 (valid stored session)",
    `backend requests in ${v.reloads} reloads (\`version: "v2"\`, signed in through the package, JWT ${v.jwtDurationMs / 60_000} min)`,
    `**${v.perReload}** per reload (${v.backendLoggedRequests} logged by the backend, ${v.browserRequestsToBackend} seen by the browser)`,
    o.measured
      ? `official @convex-dev/auth/browser ${r.versions["@convex-dev/auth-v2"]} + \`ConvexClient\` (convex ${r.versions["convex-1.51"]}), measured: **${o.perReload}** per reload ` +
        `(${o.refreshRequests} \`refreshSession\` in ${o.reloads} reloads, ${o.browserRequestsToBackend} requests seen by the browser; over the v2 backend's own sync endpoint)`
      : `official @convex-dev/auth/browser 2.0.0: ${o.perReload} per reload, documented (PROTOCOL-V2.md §4: convex's AuthenticationManager forces a refresh once the server confirms the cached token), not measured: ${o.error}`,
  ]);
  const a = r.requestsPerReloadAttached;
  rows.push([
    "Requests per page reload, reactive client attached (v1, valid stored session)",
    `backend requests in ${a.reloads} reloads, \`auth.attach(new ConvexClient(url))\` (convex ${r.versions.convex}), each waited for until the backend confirmed the token`,
    `**${a.defaults.perReload}** per reload with ConvexClient's defaults (${a.defaults.refreshRequests} refreshes); ` +
      `**${a.initialAuthTokenReuse.perReload}** with its \`initialAuthTokenReuse: true\` (${a.initialAuthTokenReuse.refreshRequests} refreshes)`,
    "the official client: 1 per load (its AuthenticationManager forces a fresh token once the backend confirmed the cached one)",
  ]);
  const coalesceRows = (c, title) => {
    for (const cfg of c.configs) {
      rows.push([
        cfg === c.configs[0] ? `${title} (JWT ${c.jwtDurationMs / 1000} s)` : "",
        `${cfg.tabs} tab(s) × ${cfg.callersPerTab} concurrent forced callers (${cfg.forcedCallsPerRotation} calls), ${cfg.rotations} rotations`,
        `**${cfg.refreshRequestsPerRotation}** refresh request(s) per rotation (${cfg.refreshRequestsByRotation.join(", ")})`,
        `${cfg.forcedCallsPerRotation} without coalescing`,
      ]);
    }
  };
  coalesceRows(r.coalescing, "Refresh coalescing");
  coalesceRows(r.coalescingV2, "Refresh coalescing, Convex Auth v2 (`refreshSession`)");
  const h = r.hotPath;
  rows.push(
    [`Hot path (median of ${h.getSnapshot.runs} runs)`, `\`auth.getSnapshot()\` × ${fmt(h.getSnapshot.callsPerRun)}`, `**${h.getSnapshot.nsPerCall} ns**/call`, ""],
    ["", `\`auth.token\` × ${fmt(h.token.callsPerRun)}`, `**${h.token.nsPerCall} ns**/call`, ""],
    [
      "",
      `\`await auth.fetchAccessToken({forceRefreshToken: false})\` × ${fmt(h.fetchAccessToken.callsPerRun)}`,
      `**${h.fetchAccessToken.nsPerCall} ns**/call`,
      "valid token, no request",
    ],
  );
  const m = r.memory;
  for (const s of m.stages) {
    rows.push([
      s === m.stages[0] ? "wasm linear memory (`memory.buffer.byteLength`)" : "",
      s.id === "refreshes" ? `${s.stage} (${m.forcedRefreshes.count} rotations)` : s.stage,
      `${fmtBytes(s.bytes)} (${kib(s.bytes)})`,
      s === m.stages[0] ? "" : `growth ${s.growthBytes >= 0 ? "+" : ""}${fmt(s.growthBytes)} B`,
    ]);
  }
  const esc = (cell) => String(cell).replaceAll("|", "\\|");
  const lines = rows.map((row) => `| ${row.map(esc).join(" | ")} |`);
  lines.splice(1, 0, "|---|---|---|---|");
  return lines.join("\n");
}

// ---- main ----

function machine(chromiumVersion) {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? "unknown";
  return {
    cpuModel: model,
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    chromium: chromiumVersion,
    date: new Date(started).toISOString(),
    // Other work on the machine makes the timings noisier; this tells how busy it was.
    loadAverage1m: { atStart: round(loadAtStart), atEnd: round(os.loadavg()[0]) },
  };
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const bundleResult = await bundleSizes();

  // The pages: bench/pages/ and the official v2 client's page bundled with convex 1.51 (the
  // version the v2 backend runs), not minified.
  rmSync(PAGES, { recursive: true, force: true });
  cpSync(`${BENCH}pages`, PAGES, { recursive: true });
  cpSync(`${BENCH}node_modules/convex/dist/browser.bundle.js`, `${PAGES}convex-browser.bundle.js`);
  await esbuild.build({
    ...ESBUILD_OPTIONS,
    minify: false,
    target: "es2022", // the page awaits at top level
    entryPoints: [`${BENCH}entries/official-v2-page.js`],
    outfile: `${PAGES}official-v2.js`,
    alias: { ...V2_ALIAS, convex: "convex-1.51" },
  });

  const pagePort = await freePort();
  const pageUrl = `http://localhost:${pagePort}`;
  log("starting the local backends (v1 and v2), the page server and Chromium");
  const [main, short, mainV2, shortV2] = await Promise.all([
    startNode("www/backend/main.mjs", { PORT: "0", SITE_URL: `${pageUrl}${PAGE}` }),
    startNode("www/backend/main.mjs", { PORT: "0", SITE_URL: `${pageUrl}${PAGE}`, JWT_DURATION_MS: String(COALESCE_JWT_MS) }),
    startNode("www/v2/backend/main.mjs", { PORT: "0", SITE_URL: pageUrl, JWT_DURATION_MS: String(V2_JWT_MS) }),
    startNode("www/v2/backend/main.mjs", { PORT: "0", SITE_URL: pageUrl, JWT_DURATION_MS: String(COALESCE_V2_JWT_MS) }),
  ]);
  const backend = backendApi(main.info.url);
  const shortBackend = backendApi(short.info.url);
  const backendV2 = backendApi(mainV2.info.url);
  const shortBackendV2 = backendApi(shortV2.info.url);
  await startNode("www/serve.mjs", { PORT: String(pagePort), CONVEX_URL: backend.url, TEST_PAGES_DIR: PAGES });
  const browser = await chromium.launch(CHROMIUM_OPTIONS);
  try {
    const { context, coldStart: cold, requestsPerLoad } = await coldStart(browser, pageUrl, backend);
    const hot = await hotPath(context, pageUrl, backend);
    const requestsPerReloadV2 = await reloadsV2(browser, pageUrl, backendV2);
    requestsPerReloadV2.official = await officialReloadsV2(browser, pageUrl, backendV2);
    const requestsPerReloadAttached = await reloadsAttached(browser, pageUrl, backend);
    const coalesce = await coalescing(browser, pageUrl, shortBackend);
    const coalesceV2 = await coalescing(browser, pageUrl, shortBackendV2, { version: "v2", jwtDurationMs: COALESCE_V2_JWT_MS });
    const mem = await memory(context, pageUrl, backend);
    await context.close();

    const results = {
      schema: 1,
      machine: machine(browser.version()),
      runtimeSeconds: 0,
      versions: {
        "convex-auth-wasm": JSON.parse(readFileSync(`${ROOT}pkg/package.json`, "utf8")).version,
        esbuild: pkgVersion("esbuild"),
        "playwright-core": pkgVersion("playwright-core"),
        ...Object.fromEntries(PEERS.map((p) => [p.installedAs ?? p.package, pkgVersion(p.installedAs ?? p.package)])),
        "@simplewebauthn/browser": v2DepVersion("@simplewebauthn/browser"),
        "convex-1.51": pkgVersion("convex-1.51"),
        convex: pkgVersion("convex"),
      },
      method: {
        gzip: `GNU gzip CLI \`gzip -9 -n\` on stdin (${gzipVersion()}); PEERS.md §2's \`gzip -9 -c file\` also stores the file name (+5–30 B)`,
        brotli: "Node zlib brotli, quality 11",
        esbuild: "--bundle --minify --format=esm --platform=browser --target=es2020 --define:process.env.NODE_ENV='\"production\"'; entry `import {…} from \"<pkg>\"; window.__x = {…}`",
        ours: "total = wasm + our JS (glue and io.js) bundled by esbuild (entry: `import init, { ConvexAuthClient }`), each of the two compressed on its own as they are served",
        coldStart: `${WARMUP_LOADS} unmeasured + ${LOADS} measured loads, each in a fresh tab of one browser context holding a valid session in localStorage (1 h JWT); served with Cache-Control: no-store, so every load fetches and compiles the wasm`,
        requestsPerLoad: "backend request log (/_test/requests) and the browser's requests to the backend origin (incl. CORS preflights) during the measured loads",
        coalescing: `backend with JWT_DURATION_MS=${COALESCE_JWT_MS}; fresh context per row, signed up in tab 1, other tabs opened on the stored session; per rotation every tab runs ${COALESCE_CALLERS} concurrent fetchAccessToken({forceRefreshToken: true}) and the backend's refresh requests are counted`,
        officialV2Bundles:
          "@convex-dev/auth 2.0.0 installed in bench/ as the npm alias @convex-dev/auth-v2 (beside 0.0.95), mapped by esbuild's `alias` so that the entries import `@convex-dev/auth/...` as an app does; `convex` (and React for the hooks) external; bench/entries/official-v2-email-password.js re-implements 2.0's email + password React hooks and the provider's wiring for a non-React app",
        requestsPerReloadV2: `v2 backend (www/v2/backend) with JWT_DURATION_MS=${V2_JWT_MS}; one tab signed in (ours: signIn("username-password", {flow: "signUp"}) with version "v2"; official: its email + password glue, the emailed code read from the outbox), then ${RELOADS_V2} page.reload() each waited for (ours: ready(); official: the backend confirmed the token and no forced fetchAccessToken pending for 300 ms); the backend's request log and the browser's requests to the backend origin during the reloads are counted`,
        officialV2Sync:
          "the official page's ConvexClient connects to the v2 backend's own WebSocket sync endpoint (www/backend/sync.mjs), which verifies tokens as its HTTP API does; the official client's per-load refresh follows that endpoint's confirmation of the cached token",
        coalescingV2: `the same as coalescing, on the v2 backend with JWT_DURATION_MS=${COALESCE_V2_JWT_MS}, the page with version "v2", signed up with username + password; refresh requests = refreshSession calls`,
        hotPath: `tight loops inside the page, performance.now() around each run; one warm-up run, then ${HOT_RUNS} runs, median`,
        memory:
          "wasm.memory.buffer.byteLength (the exports object that init() resolves to); grows in 64 KiB pages, never shrinks, so it is the high-water mark. Each stage runs in one go, then GC is forced (CDP HeapProfiler.collectGarbage, 3× with a 20 ms task between, so wasm-bindgen's FinalizationRegistry frees collected closures) before the reading",
      },
      bundle: bundleResult,
      coldStart: cold,
      requestsPerLoad,
      requestsPerReloadV2,
      requestsPerReloadAttached,
      coalescing: coalesce,
      coalescingV2: coalesceV2,
      hotPath: hot,
      memory: mem,
    };
    results.runtimeSeconds = Math.round((Date.now() - started) / 1000);
    const md = table(results);
    const m = results.machine;
    const header =
      `# convex-auth-wasm benchmarks\n\n` +
      `Produced by \`bash scripts/bench.sh\` (\`make bench\`) on ${m.date.slice(0, 10)}: ${m.cpuModel}, ${m.cpus} cores, ` +
      `Node ${m.node}, headless Chromium ${m.chromium} (playwright-core ${results.versions["playwright-core"]}), ` +
      `esbuild ${results.versions.esbuild}; 1-min load average ${m.loadAverage1m.atStart} at the start, ${m.loadAverage1m.atEnd} at the end. Run time ${results.runtimeSeconds} s. Raw figures and method: \`bench/results.json\`.\n\n` +
      `Sizes: gzip = GNU \`gzip -9 -n\`, brotli = Node zlib quality 11; bold = gzip. Peers are bundled with esbuild exactly as in PEERS.md §2 (the Convex Auth v2 rows from the entries in \`bench/entries/\`). ` +
      `Memory: ${mem.note}\n\n`;
    writeFileSync(`${BENCH}results.json`, `${JSON.stringify(results, null, 2)}\n`);
    const anomalies = [
      ...coalesce.anomalies.map((a) => ({ ...a, label: "" })),
      ...coalesceV2.anomalies.map((a) => ({ ...a, label: "v2 " })),
    ];
    const notes = anomalies.length
      ? `\n\nCoalescing rotations that did not go "1 request, 1 token for every caller" (details in results.json): ` +
        anomalies
          .map((a) => `${a.label}${a.tabs} tab(s) rotation ${a.rotation}: ${a.refreshRequests.length} request(s), ${new Set(a.gotByTab.flat()).size} token(s)${a.oldTokenAnswered ? ", an old token answered" : ""}`)
          .join("; ") + "."
      : "";
    writeFileSync(`${BENCH}results.md`, `${header}${md}${notes}\n`);
    process.stdout.write(`\nmachine: ${m.cpuModel} × ${m.cpus}, Chromium ${m.chromium}, ${m.date}, load ${m.loadAverage1m.atStart}→${m.loadAverage1m.atEnd}\n\n${md}${notes}\n\n`);
    process.stdout.write(`wrote bench/results.json and bench/results.md (${results.runtimeSeconds} s)\n`);
  } finally {
    await browser.close().catch(() => {});
    await Promise.all(children.map(stop));
  }
}

// Interrupted (Ctrl-C, a timeout): stop the backends and the page server too.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
    process.exit(130);
  });
}

main().catch(async (error) => {
  console.error(error);
  await Promise.all(children.map(stop));
  process.exit(1);
});
