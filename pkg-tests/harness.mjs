// Starts the local backend and the demo server (which serves ../pkg at /pkg/) and a headless
// Chromium through playwright-core, for end-to-end tests of the built package.
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_OPTIONS, freePort, startNode, stop } from "./processes.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RESULTS = `${ROOT}test-results`;
// pages/t.html: a bare page that imports the built package; `?opts=<json>` adds options.
export const TEST_PAGE = "/test/t.html";

/** Backend + page server + browser. Returns helpers; call close() at the end. `backendEnv`
 *  adds environment variables of the backend (e.g. `JWT_DURATION_MS`). `version: "v2"` starts
 *  the Convex Auth v2 backend (www/v2) instead, with `SITE_URL` the page server's origin (its
 *  email links, OAuth `redirectTo` origin and passkey origin; rpId `localhost`). */
export async function startHarness({ backendEnv = {}, version = "v1" } = {}) {
  if (version !== "v1" && version !== "v2") throw new Error(`version must be "v1" or "v2", got ${version}`);
  if (!existsSync(`${ROOT}pkg/web/convex_auth_wasm.js`)) throw new Error("pkg/ is not built: run `make pkg`");
  mkdirSync(RESULTS, { recursive: true });
  const pagePort = await freePort();
  const pageUrl = `http://localhost:${pagePort}`;
  const backend = await startNode(version === "v2" ? "www/v2/backend/main.mjs" : "www/backend/main.mjs", {
    PORT: "0",
    SITE_URL: version === "v2" ? pageUrl : `${pageUrl}${TEST_PAGE}`,
    ...backendEnv,
  });
  const convexUrl = backend.info.url;
  const site = await startNode("www/serve.mjs", { PORT: String(pagePort), CONVEX_URL: convexUrl, TEST_PAGES_DIR: `${ROOT}pkg-tests/pages` });
  const browser = await chromium.launch(CHROMIUM_OPTIONS);

  const servers = [];

  const api = async (method, path, body) => {
    const r = await fetch(`${convexUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return r.json();
  };

  return {
    pageUrl,
    convexUrl,
    /** The local OAuth/OIDC mock: GitHub, `mock-oidc`, and the identity platform's issuer. */
    idpUrl: backend.info.idpUrl,
    api,
    reset: () => api("POST", "/_test/reset"),
    /** Injects a fault (`{path, kind, count, status?, delayMs?}`, BACKEND.md). */
    fault: (f) => api("POST", "/_test/faults", f),
    requests: () => api("GET", "/_test/requests"),
    outbox: async (to) => (await api("GET", `/_test/outbox?to=${encodeURIComponent(to)}`)).messages,
    /** Serves `dir` at `/test/` from another loopback page server (stopped by close()); returns
     *  its origin. */
    async serve(dir) {
      const port = await freePort();
      const server = await startNode("www/serve.mjs", { PORT: String(port), CONVEX_URL: convexUrl, TEST_PAGES_DIR: dir });
      servers.push(server.child);
      return `http://localhost:${port}`;
    },
    /** A fresh browser context (its own storage). */
    context: () => browser.newContext(),
    /** Opens the test page (optionally with options) and waits for `ready()`. */
    async open(context, { opts, page, query = "" } = {}) {
      page ??= await context.newPage();
      const search = new URLSearchParams(query);
      if (opts) search.set("opts", JSON.stringify(opts));
      const qs = search.toString();
      await page.goto(`${pageUrl}${TEST_PAGE}${qs ? `?${qs}` : ""}`);
      await waitReady(page);
      return page;
    },
    async close() {
      await browser.close();
      for (const child of servers) await stop(child);
      await stop(site.child);
      await stop(backend.child);
    },
  };
}

export async function waitReady(page) {
  await page.waitForFunction(() => window.readyDone === true, null, { timeout: 20_000 });
}

/** A platform authenticator (Chrome DevTools Protocol) for `page` that answers every WebAuthn
 *  ceremony with user verification and keeps discoverable passkeys. Returns the CDP session and
 *  the authenticator's id (for `WebAuthn.getCredentials`, `WebAuthn.setUserVerified`). */
export async function virtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

export const state = (page) => page.evaluate(() => window.auth.getSnapshot());
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
