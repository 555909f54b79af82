// The example apps of examples/ (vanilla JS, React, Svelte, Vue), built by examples/build.sh
// from the packed package, in headless Chromium against the local backend: sign in
// anonymously, the user id, users:viewer through the official ConvexHttpClient, no flicker
// on load, sign-in, token refresh and reload, and sign out. The vanilla page runs a second
// time in its v2 mode (`?version=v2`) against the Convex Auth v2 backend (www/v2), started here,
// and the React page a second time with `auth.attach(convex)` instead of ConvexProviderWithAuth.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { RESULTS, sleep, startHarness } from "./harness.mjs";
import { startNode, stop } from "./processes.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = `${ROOT}examples/dist`;
const FRAMEWORKS = ["vanilla", "react", "svelte", "vue"];
// Each run: the page, the backend generation, the page's storage namespace, its query and
// what the test name adds. React runs twice: with ConvexProviderWithAuth, and with
// `auth.attach(convex)` (`?attach`).
const RUNS = [
  ...FRAMEWORKS.map((fw) => ({ fw, version: "v1", ns: fw, query: "", label: "" })),
  { fw: "react", version: "v1", ns: "react-attach", query: "&attach", label: " (attach)" },
  { fw: "vanilla", version: "v2", ns: "vanilla-v2", query: "&version=v2", label: " (Convex Auth v2)" },
];

/** Runs examples/build.sh; rejects with its output when it fails. */
function build() {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [`${ROOT}examples/build.sh`], {
      env: { ...process.env, VITE_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`examples/build.sh exited with ${code}:\n${out}`))));
  });
}

// Records every text the status element shows, from the first parsed node on (runs before
// the page's scripts on every load of the context's pages). Observer callbacks run at each
// microtask checkpoint, before the browser can paint, so every state that could have been
// seen on screen is recorded.
function recordStatuses() {
  window.__statuses = [];
  const record = () => {
    const text = document.querySelector('[data-testid="status"]')?.textContent;
    if (text !== undefined && text !== window.__statuses.at(-1)) window.__statuses.push(text);
  };
  new MutationObserver(record).observe(document, { subtree: true, childList: true, characterData: true });
}

const statuses = (page) => page.evaluate(() => window.__statuses);
const text = (page, id) => page.getByTestId(id).textContent();
const waitText = (page, id, expected, timeout = 20_000) =>
  page.waitForFunction(
    ([id, expected]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === expected,
    [id, expected],
    { timeout },
  );

let h;
let siteUrl;
let convexUrlV2;
const children = [];
before(
  async () => {
    await build();
    // Platform tokens of 12 s: the platform example sees them rotate within a test (the
    // reactive client asks 10 s before each expiry).
    h = await startHarness({ backendEnv: { PLATFORM_TOKEN_TTL_MS: "12000" } });
    siteUrl = await h.serve(DIST);
    // The v2 backend, as `VERSION=v2 make backend` starts it (anonymous sign-in needs no SITE_URL).
    convexUrlV2 = (await startNode("www/v2/backend/main.mjs", { PORT: "0" }, children)).info.url;
  },
  { timeout: 600_000 },
);
after(async () => {
  for (const child of children) await stop(child);
  await h?.close();
});

for (const { fw, version, ns, query, label } of RUNS) {
  const v2 = version === "v2";
  // The namespace in storage keys keeps letters and digits only (as the official clients do).
  const jwtKey = `__convexAuthJWT_${ns.replace(/[^a-zA-Z0-9]/g, "")}`;
  test(`examples/${fw}${label}: sign in anonymously, query the viewer, reload, sign out, without flicker`, async (t) => {
    const context = await h.context();
    await context.addInitScript(recordStatuses);
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(`${m.text()} (${m.location().url})`));
    const url = `${siteUrl}/test/${fw}/index.html?convex=${encodeURIComponent(v2 ? convexUrlV2 : h.convexUrl)}${query}`;
    try {
      // Signed out: the loading state (if any) then signed-out, never signed-in.
      await page.goto(url);
      await waitText(page, "status", "signed-out");
      const beforeSignIn = await statuses(page);
      assert.ok(
        ["loading,signed-out", "signed-out"].includes(beforeSignIn.join()),
        `statuses before sign-in: ${beforeSignIn}`,
      );

      await page.getByTestId("sign-in").click();
      await waitText(page, "status", "signed-in");
      const snapshot = await page.evaluate(() => window.auth.getSnapshot());
      assert.equal(snapshot.isAuthenticated, true);
      assert.match(snapshot.userId ?? "", /\S/);
      // v2: the JWT's subject is the session, the user id comes with the session bundle.
      if (v2) assert.ok(snapshot.sessionId && snapshot.sessionId !== snapshot.userId, `v2 session ${snapshot.sessionId}`);
      assert.equal(await text(page, "user-id"), snapshot.userId);
      // The official ConvexHttpClient carried the token: users:viewer knows the user.
      await waitText(page, "viewer-id", snapshot.userId);
      // React renders from useConvexAuth() (or, attached, from the client's server-confirmed
      // state): loading while the backend confirms the new token.
      const afterSignIn = await statuses(page);
      const ends = fw === "react" ? ["signed-in", "loading,signed-in"] : ["signed-in"];
      assert.ok(
        ends.some((end) => afterSignIn.join() === [...beforeSignIn, end].join()),
        `statuses after sign-in: ${afterSignIn}`,
      );
      // The session is stored under the page's own namespace.
      assert.equal(await page.evaluate((key) => localStorage.getItem(key), jwtKey), snapshot.token);

      // A forced token refresh (a new exp: JWT times are in seconds) changes the state but
      // not what the user sees.
      await sleep(1_100);
      const refreshed = await page.evaluate(async () => {
        await window.auth.fetchAccessToken({ forceRefreshToken: true });
        return window.auth.getSnapshot();
      });
      assert.notEqual(refreshed.token, snapshot.token);
      assert.equal(refreshed.userId, snapshot.userId);
      if (fw === "svelte") {
        // The component re-renders from `$auth` on every store change, not only sign-in/out.
        assert.ok(refreshed.expiresAt > snapshot.expiresAt, "the refresh moved exp");
        await waitText(page, "expires-at", new Date(refreshed.expiresAt).toISOString());
      }
      assert.equal(await text(page, "user-id"), snapshot.userId);
      assert.deepEqual(await statuses(page), afterSignIn);
      await page.screenshot({ path: `${RESULTS}/example-${ns}.png` });

      // Reload: the stored session is back with no signed-out frame in between.
      await page.reload();
      await waitText(page, "status", "signed-in");
      await waitText(page, "viewer-id", snapshot.userId);
      assert.equal(await text(page, "user-id"), snapshot.userId);
      const afterReload = await statuses(page);
      assert.ok(["loading,signed-in", "signed-in"].includes(afterReload.join()), `statuses after reload: ${afterReload}`);

      await page.getByTestId("sign-out").click();
      await waitText(page, "status", "signed-out");
      assert.deepEqual(await statuses(page), [...afterReload, "signed-out"]);
      t.diagnostic(`statuses: first load ${afterSignIn.join(" → ")}; reload ${afterReload.join(" → ")} → signed-out`);
      const state = await page.evaluate(() => window.auth.getSnapshot());
      assert.equal(state.isAuthenticated, false);
      assert.equal(state.userId, null);
      assert.equal(await page.evaluate((key) => localStorage.getItem(key), jwtKey), null);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
}

test("examples/platform: sign in at the OIDC provider, store the user, live messages through the reactive client across 5 token rotations, sign out", async (t) => {
  const context = await h.context();
  t.after(() => context.close());
  await context.addInitScript(recordStatuses);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(`${m.text()} (${m.location().url})`));
  const url = `${siteUrl}/test/platform/index.html?convex=${encodeURIComponent(h.convexUrl)}&idp=${encodeURIComponent(h.idpUrl)}`;
  await page.goto(url);
  await waitText(page, "status", "signed-out");
  // The provider's login (the mock answers at once) and back: signed in once the user is
  // stored and the backend accepted the token over the reactive client's WebSocket.
  await page.getByTestId("sign-in").click();
  await waitText(page, "status", "signed-in");
  const snapshot = await page.evaluate(() => window.auth.getSnapshot());
  assert.equal(snapshot.userId, "mock-user-1");
  assert.match(String(snapshot.storedUserId), /\S/);
  assert.equal(await text(page, "stored-user-id"), snapshot.storedUserId);
  // Back from the provider (a new page load): loading until then, never signed-out.
  assert.deepEqual((await statuses(page)).filter((s) => s !== "loading"), ["signed-in"]);
  assert.ok(!(await page.evaluate(() => location.search)).includes("code="), "the provider's code left the URL");

  // A message sent here, and one sent by another client over HTTP with its own platform token,
  // both arrive through the subscription.
  await page.getByTestId("message").fill("hello from the page");
  await page.getByTestId("send").click();
  await page.waitForFunction(() => document.querySelector('[data-testid="messages"]')?.textContent.includes("hello from the page"));
  const { token } = await h.api("POST", "/_test/platform/token", { sub: "mock-user-1" });
  const sent = await fetch(`${h.convexUrl}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ path: "messages:send", args: { body: "hello from elsewhere" }, format: "json" }),
  });
  assert.equal(sent.status, 200);
  await page.waitForFunction(() => document.querySelector('[data-testid="messages"]')?.textContent.includes("hello from elsewhere"));

  // 5 rotations of 12 s tokens (oidc-client-ts's refresh grant, asked by convex-auth-wasm
  // before each expiry), the reactive client authenticated all along on one connection.
  await page.evaluate(() => {
    window.refreshes = 0;
    window.auth.onChange((e) => e.type === "tokenRefreshed" && window.refreshes++);
  });
  await page.waitForFunction(() => window.refreshes >= 5, null, { timeout: 60_000 });
  const connection = await page.evaluate(() => window.convex.connectionState());
  assert.equal(connection.isWebSocketConnected, true);
  assert.equal(connection.connectionCount, 1, "the subscription's socket never dropped");
  assert.deepEqual((await statuses(page)).filter((s) => s !== "loading"), ["signed-in"], "no flicker across refreshes");
  const late = await h.api("POST", "/_test/platform/token", { sub: "mock-user-1" });
  await fetch(`${h.convexUrl}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${late.token}` },
    body: JSON.stringify({ path: "messages:send", args: { body: "still live" }, format: "json" }),
  });
  await page.waitForFunction(() => document.querySelector('[data-testid="messages"]')?.textContent.includes("still live"));

  await page.getByTestId("sign-out").click();
  await waitText(page, "status", "signed-out");
  assert.equal(await page.evaluate(() => window.auth.getSnapshot().token), null);
  assert.deepEqual(errors, []);
});
