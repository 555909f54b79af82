#!/usr/bin/env node
// `VERSION=v2 make backend`: the local Convex Auth v2 backend. Prints one JSON line on stdout
// when ready: {"ready":true,"url":...,"siteUrl":...,"idpUrl":...}. Environment: PORT (3210;
// 0 = any free port), HOST, SITE_URL, JWT_DURATION_MS (the access-token lifetime, 1000 ms to
// one hour; 2.0's default of 60 s when unset).
import "./hooks.mjs";

// stdout carries only the ready line. The functions' info logs go to stderr with VERBOSE=1 and
// are dropped otherwise; warnings and errors always go to stderr.
for (const level of ["log", "info", "debug"]) console[level] = process.env.VERBOSE ? console.error : () => {};

const port = process.env.PORT === undefined ? 3210 : Number(process.env.PORT);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${process.env.PORT}`);
  process.exit(2);
}
const jwtDurationMs = process.env.JWT_DURATION_MS === undefined ? undefined : Number(process.env.JWT_DURATION_MS);
if (jwtDurationMs !== undefined && !(Number.isFinite(jwtDurationMs) && jwtDurationMs >= 1000 && jwtDurationMs <= 3_600_000)) {
  console.error(`JWT_DURATION_MS must be a number of milliseconds from 1000 to 3600000, got ${process.env.JWT_DURATION_MS}`);
  process.exit(2);
}

// The loader hooks apply to modules imported after ./hooks.mjs, hence the dynamic import.
const { startBackend } = await import("./server.mjs");
const backend = await startBackend({
  port,
  host: process.env.HOST ?? "127.0.0.1",
  siteUrl: process.env.SITE_URL,
  jwtDurationMs,
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
