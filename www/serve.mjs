#!/usr/bin/env node
// Static server for the demo page: the Vite build (www/dist, scripts/build-demo.sh) at /, the
// built package (../pkg) at /pkg/ for the test pages, and /config.js telling the page which
// Convex deployments to use: CONVEX_URL (Convex Auth v1) and CONVEX_URL_V2 (Convex Auth v2;
// none when unset). The page's backend switch picks one of them. With only CONVEX_URL_V2 set,
// there is no v1 deployment. Prints one JSON line {"ready":true,"url":...} when listening.
// PORT (default 5173; 0 = any free port).
import { createReadStream, statSync } from "node:fs";
import http from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const DIST = fileURLToPath(new URL("dist/", import.meta.url));
const PKG = fileURLToPath(new URL("../pkg/", import.meta.url));
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ts": "text/plain; charset=utf-8",
};

// TEST_PAGES_DIR (tests only): extra pages served at /test/.
const TEST_DIR = process.env.TEST_PAGES_DIR ? join(process.env.TEST_PAGES_DIR, sep) : null;
const convexUrlV2 = process.env.CONVEX_URL_V2 || null;
const convexUrl = process.env.CONVEX_URL || (convexUrlV2 ? null : "http://127.0.0.1:3210");
// The identity platform's OIDC issuer for the demo's platform mode (the local backend's idpUrl).
const idpUrl = process.env.IDP_URL || null;
const port = process.env.PORT === undefined ? 5173 : Number(process.env.PORT);

function resolveFile(pathname) {
  if (pathname === "/config.js") return { config: true };
  if (pathname.startsWith("/pkg/")) {
    const file = normalize(join(PKG, decodeURIComponent(pathname.slice(5))));
    return file.startsWith(PKG) ? { file } : null;
  }
  if (TEST_DIR && pathname.startsWith("/test/")) {
    const file = normalize(join(TEST_DIR, decodeURIComponent(pathname.slice(6))));
    return file.startsWith(TEST_DIR) ? { file } : null;
  }
  // Other paths without an extension are the page too (OAuth `redirectTo` paths land here).
  if (extname(pathname) === "") return { file: join(DIST, "index.html") };
  const file = normalize(join(DIST, decodeURIComponent(pathname.slice(1))));
  return file.startsWith(DIST) ? { file } : null;
}

function handler(req, res) {
  const { pathname } = new URL(req.url ?? "/", "http://localhost");
  const found = resolveFile(pathname);
  const headers = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };
  if (found?.config) {
    res.writeHead(200, { ...headers, "Content-Type": TYPES[".js"] });
    return res.end(
      `export const CONVEX_URL = ${JSON.stringify(convexUrl)};\nexport const CONVEX_URL_V2 = ${JSON.stringify(convexUrlV2)};\n` +
        `export const IDP_URL = ${JSON.stringify(idpUrl)};\n`,
    );
  }
  let size = -1;
  try {
    const stat = found ? statSync(found.file) : null;
    if (stat?.isFile()) size = stat.size;
  } catch {}
  if (size < 0) {
    res.writeHead(404, { ...headers, "Content-Type": "text/plain" });
    return res.end(found ? "Not built yet: run `make pkg` (and scripts/build-demo.sh for the page).\n" : "Not found\n");
  }
  res.writeHead(200, {
    ...headers,
    "Content-Type": TYPES[extname(found.file)] ?? "application/octet-stream",
    "Content-Length": size,
  });
  createReadStream(found.file).pipe(res);
}

// Both loopback families, so http://localhost works whichever one the browser tries first.
const v4 = http.createServer(handler);
v4.listen(port, "127.0.0.1", () => {
  const actual = v4.address().port;
  const v6 = http.createServer(handler);
  v6.on("error", () => {}); // no IPv6 loopback here: IPv4 alone serves localhost
  v6.listen(actual, "::1");
  process.stdout.write(`${JSON.stringify({ ready: true, url: `http://localhost:${actual}`, convexUrl, convexUrlV2 })}\n`);
  const stop = () => {
    v4.closeAllConnections();
    v6.closeAllConnections?.();
    v4.close();
    v6.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
});
