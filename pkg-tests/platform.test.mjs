// Identity platforms end to end (API.md "Any identity platform", "Users in the app's own
// tables"): the built package with a `tokenSource` in headless Chromium against the local
// backend, whose platform issuer (aud "convex", a second issuer in auth.config) mints the JWTs
// and whose Clerk webhook route (svix-signed) feeds users. pages/platform.html holds the
// platform stand-in.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { fileURLToPath } from "node:url";
import { startHarness, state, waitReady } from "./harness.mjs";

// The official reactive client's browser bundle (convex 1.48, from the examples' packages).
const CONVEX_DIST = fileURLToPath(new URL("../examples/node_modules/convex/dist", import.meta.url));

const PAGE = "/test/platform.html";
let h;
before(async () => {
  h = await startHarness();
});
after(() => h?.close());
beforeEach(() => h.reset());

async function open(t, opts, query = "") {
  const context = await h.context();
  t.after(() => context.close());
  const page = await context.newPage();
  const search = new URLSearchParams(query);
  if (opts) search.set("opts", JSON.stringify(opts));
  const qs = search.toString();
  await page.goto(`${h.pageUrl}${PAGE}${qs ? `?${qs}` : ""}`);
  await waitReady(page);
  return page;
}

const until = (page, f, arg, timeout = 20_000) => page.waitForFunction(f, arg, { timeout });
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));

test("tokenSource: sign-in through the platform, auth.fetch, refreshes through failures, sign-out", async (t) => {
  const page = await open(t);
  let s = await state(page);
  assert.equal(s.isAuthenticated, false);
  assert.deepEqual(await page.evaluate(() => window.platform.calls), [false], "asked once, unforced");
  const result = await page.evaluate(() => window.auth.signIn("user_2abc", { name: "Ada" }));
  assert.deepEqual(result, { signingIn: true });
  s = await state(page);
  assert.equal(s.isAuthenticated, true);
  assert.equal(s.userId, "user_2abc");
  assert.equal(s.sessionId, null);
  assert.equal(claims(s.token).aud, "convex");
  // The platform's token reaches the app's HTTP actions.
  const whoami = await page.evaluate(async () => {
    const r = await window.auth.fetch(window.CONVEX_URL + "/whoami");
    return { status: r.status, body: await r.json() };
  });
  assert.equal(whoami.status, 200);
  assert.equal(whoami.body.subject, "user_2abc");

  // Short tokens (4 s): the client asks the platform, forced, before each expiry; two failing
  // calls are transient (error events, the session kept).
  const mark = await page.evaluate(() => {
    window.platform.ttlMs = 4000;
    window.platform.cached = null;
    return window.platform.calls.length;
  });
  await page.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true }));
  await page.evaluate(() => (window.platform.fail = 2));
  const before = (await page.evaluate(() => window.events)).filter((e) => e === "tokenRefreshed").length;
  await until(page, (n) => window.events.filter((e) => e === "tokenRefreshed").length >= n + 2, before, 30_000);
  const errors = await page.evaluate(() => window.errors);
  assert.equal(errors.length, 2);
  assert.ok(errors.every((e) => e.retryable && e.message.includes("unreachable")));
  const states = await page.evaluate(() => window.states);
  const signedIn = states.findIndex((st) => st.isAuthenticated);
  assert.ok(states.slice(signedIn).every((st) => st.isAuthenticated), "never signed out by a failure");
  assert.ok((await page.evaluate(() => window.platform.calls)).slice(mark).every((force) => force), "refreshes force the platform");

  await page.evaluate(() => window.auth.signOut());
  s = await state(page);
  assert.equal(s.isAuthenticated, false);
  assert.equal(await page.evaluate(() => window.platform.sub), null, "the platform's signOut ran");
  assert.deepEqual((await page.evaluate(() => window.events)).slice(-1), ["signedOut"]);
});

test("tokenSource: a change reported by the platform is followed; bad options are InvalidOptions", async (t) => {
  const page = await open(t);
  await page.evaluate(() => window.tokenSource.signIn("user_one", {}));
  await until(page, () => window.auth.getSnapshot().userId === "user_one");
  await page.evaluate(() => window.tokenSource.signIn("user_two", {}));
  await until(page, () => window.auth.getSnapshot().userId === "user_two");
  assert.deepEqual(await page.evaluate(() => window.events), ["initialized", "signedIn", "signedIn"]);
  const bad = await page.evaluate(() => {
    const attempt = (o) => {
      try {
        new window.auth.constructor({ url: window.CONVEX_URL, ...o }).free();
        return "ok";
      } catch (e) {
        return `${e.code}: ${e.message}`;
      }
    };
    return [
      attempt({ tokenSource: {} }),
      attempt({ tokenSource: { fetchToken: () => null, signIn: 1 } }),
      attempt({ tokenSource: window.tokenSource, storage: "memory" }),
      attempt({ tokenSource: window.tokenSource, version: "v2" }),
      attempt({ storeUser: "store" }),
      attempt({ tokenSource: window.tokenSource, storeUser: "users:store", currentUser: "users:current" }),
      ...[{}, { setAuth() { throw new Error("broken client"); } }].map((client) => {
        try {
          window.auth.attach(client);
          return "ok";
        } catch (e) {
          return `${e.code}: ${e.message}`;
        }
      }),
    ];
  });
  assert.match(bad[0], /^InvalidOptions: `tokenSource` must be an object with a `fetchToken` function/);
  assert.match(bad[1], /^InvalidOptions: `tokenSource.signIn` must be a function/);
  assert.match(bad[2], /^InvalidOptions: `storage` is not used with `tokenSource`/);
  assert.match(bad[3], /^InvalidOptions: `version` is not used with `tokenSource`/);
  assert.match(bad[4], /^InvalidOptions: `storeUser` must name a function/);
  assert.equal(bad[5], "ok");
  assert.match(bad[6], /^InvalidParams: attach needs a reactive Convex client/);
  assert.match(bad[7], /^InvalidParams: attach: the client's setAuth threw: broken client/);
  assert.equal((await state(page)).isLoading, false, "a failed attach leaves no attachment behind");
});

test("storeUser and currentUser: the user is stored once, then found; the state waits for both", async (t) => {
  const page = await open(t, { storeUser: "users:store", currentUser: "users:current" });
  let s = await state(page);
  assert.deepEqual([s.isLoading, s.isAuthenticated, s.storedUserId, s.user], [false, false, null, null]);
  await page.evaluate(() => window.auth.signIn("user_store", { name: "Grace" }));
  await until(page, () => window.auth.getSnapshot().isAuthenticated);
  s = await state(page);
  assert.equal(typeof s.storedUserId, "string");
  assert.equal(s.user._id, s.storedUserId);
  assert.equal(s.user.name, "Grace");
  // Until both were there, the state said loading and not authenticated (no flicker to true).
  const states = await page.evaluate(() => window.states);
  const firstTrue = states.findIndex((st) => st.isAuthenticated);
  assert.ok(states.slice(1, firstTrue).some((st) => st.isLoading), "loading while the user is stored");
  const stores = (await h.requests()).filter((r) => r.path === "users:store");
  assert.equal(stores.length, 1);
  assert.ok(stores[0].hasAuth);
  // Signed out: no user.
  await page.evaluate(() => window.auth.signOut());
  s = await state(page);
  assert.deepEqual([s.isAuthenticated, s.storedUserId, s.user], [false, null, null]);
});

test("currentUser waits for the user a webhook creates", async (t) => {
  const page = await open(t, { currentUser: "users:current" });
  await page.evaluate(() => window.auth.signIn("user_hook", {}));
  let s = await state(page);
  assert.deepEqual([s.isLoading, s.isAuthenticated, s.user], [true, false, null]);
  const delivered = await h.api("POST", "/_test/webhook", {
    type: "user.created",
    data: { id: "user_hook", first_name: "Web", last_name: "Hook" },
    delayMs: 1500,
  });
  assert.equal(delivered.delivered, false);
  await until(page, () => window.auth.getSnapshot().isAuthenticated);
  s = await state(page);
  assert.equal(s.user.name, "Web Hook");
  assert.equal(s.user.externalId, "user_hook");
  assert.ok((await h.requests()).filter((r) => r.path === "users:current").length >= 2, "asked again while null");
  assert.deepEqual(await page.evaluate(() => window.errors), [], "no error while waiting");
});

test("a token of an issuer the deployment does not trust: storeUser fails for good with Unauthenticated", async (t) => {
  const page = await open(t, { storeUser: "users:store" });
  await page.evaluate(() => {
    window.platform.issuer = "untrusted";
    return window.auth.signIn("user_x", {});
  });
  await until(page, () => !window.auth.getSnapshot().isLoading);
  const s = await state(page);
  assert.equal(s.isAuthenticated, false);
  assert.notEqual(s.token, null);
  const errors = await page.evaluate(() => window.errors);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "Unauthenticated");
  assert.match(errors[0].message, /No auth provider found/);
});

test("attach: isAuthenticated waits for the backend's verdict over the WebSocket; an untrusted issuer is an Unauthenticated error naming it", async (t) => {
  const bundle = `${await h.serve(CONVEX_DIST)}/test/browser.bundle.js`;
  const page = await open(t, undefined, { reactive: bundle });
  await page.evaluate(() => window.auth.signIn("user_ok", {}));
  await until(page, () => window.auth.getSnapshot().isAuthenticated);
  // Signed in at the platform, then loading until the backend accepted the token.
  const states = await page.evaluate(() => window.states);
  const first = states.findIndex((st) => st.isAuthenticated);
  assert.ok(states[first - 1].isLoading, `states: ${JSON.stringify(states)}`);
  // The reactive client runs queries as that user.
  const whoami = await page.evaluate(() => window.reactive.query("users:current", {}));
  assert.equal(whoami, null, "not stored, but authenticated: the query ran with the identity");

  // Another user, of an issuer the deployment does not trust.
  await page.evaluate(() => {
    window.platform.issuer = "untrusted";
    return window.tokenSource.signIn("user_bad", {});
  });
  await until(page, () => {
    const s = window.auth.getSnapshot();
    return s.userId === "user_bad" && !s.isLoading;
  });
  const s = await state(page);
  assert.equal(s.isAuthenticated, false);
  const errors = await page.evaluate(() => window.errors);
  assert.equal(errors.at(-1).code, "Unauthenticated");
  assert.match(errors.at(-1).message, /issuer http:\/\/127\.0\.0\.1:\d+\/untrusted/);
  assert.match(errors.at(-1).message, /auth\.config/);
  // Detached, the state is the session's alone again.
  await page.evaluate(() => window.detach());
  assert.equal((await state(page)).isAuthenticated, true);
});

test("currentUser with the reactive client attached follows the user live: renamed, then deleted by webhooks", async (t) => {
  const bundle = `${await h.serve(CONVEX_DIST)}/test/browser.bundle.js`;
  const page = await open(t, { currentUser: "users:current" }, { reactive: bundle });
  await page.evaluate(() => window.auth.signIn("user_live", {}));
  await h.api("POST", "/_test/webhook", { type: "user.created", data: { id: "user_live", first_name: "Ada", last_name: null } });
  await until(page, () => window.auth.getSnapshot().isAuthenticated);
  assert.equal((await state(page)).user.name, "Ada");
  const polls = (await h.requests()).filter((r) => r.path === "users:current").length;
  await h.api("POST", "/_test/webhook", { type: "user.updated", data: { id: "user_live", first_name: "Ada", last_name: "Lovelace" } });
  await until(page, () => window.auth.getSnapshot().user?.name === "Ada Lovelace");
  assert.equal((await h.requests()).filter((r) => r.path === "users:current").length, polls, "the rename came through the subscription");
  assert.equal((await state(page)).isAuthenticated, true);
  await h.api("POST", "/_test/webhook", { type: "user.deleted", data: { id: "user_live", deleted: true } });
  await until(page, () => !window.auth.getSnapshot().isAuthenticated);
  const s = await state(page);
  assert.deepEqual([s.isLoading, s.user, s.userId], [true, null, "user_live"]);
});
