#!/usr/bin/env node
// `make backend`: the local Convex backend. Prints one JSON line on stdout when ready:
// {"ready":true,"url":...,"siteUrl":...,"idpUrl":...}. Environment: PORT (3210; 0 = any free
// port), HOST, SITE_URL, JWT_DURATION_MS, JWT_PRIVATE_KEY and JWKS.
import { startBackend } from "./server.mjs";

// stdout carries only the ready line. The functions' info logs go to stderr with VERBOSE=1 and
// are dropped otherwise; warnings and errors always go to stderr.
for (const level of ["log", "info", "debug"]) console[level] = process.env.VERBOSE ? console.error : () => {};

const port = process.env.PORT === undefined ? 3210 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${process.env.PORT}`);
  process.exit(2);
}
const jwtDurationMs = process.env.JWT_DURATION_MS === undefined ? undefined : Number(process.env.JWT_DURATION_MS);
if (jwtDurationMs !== undefined && !(Number.isFinite(jwtDurationMs) && jwtDurationMs > 0)) {
  console.error(`JWT_DURATION_MS must be a positive number of milliseconds, got ${process.env.JWT_DURATION_MS}`);
  process.exit(2);
}

const backend = await startBackend({
  port,
  host: process.env.HOST ?? "127.0.0.1",
  siteUrl: process.env.SITE_URL,
  jwtDurationMs,
  jwtPrivateKey: process.env.JWT_PRIVATE_KEY,
  jwks: process.env.JWKS,
});
process.stdout.write(
  `${JSON.stringify({ ready: true, url: backend.url, siteUrl: backend.siteUrl, idpUrl: backend.idpUrl })}\n`,
);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await backend.close().catch(() => {});
    process.exit(0);
  });
}
