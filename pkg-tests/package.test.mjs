// The built package in a page, in headless Chromium, against the local backend.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { sleep, startHarness, state, TEST_PAGE, waitReady } from "./harness.mjs";

let h;
before(async () => {
  h = await startHarness();
});
after(() => h?.close());
beforeEach(() => h.reset());

const signUp = (page, email) =>
  page.evaluate(
    (email) => window.auth.signIn("password", { email, password: "correct horse battery", flow: "signUp" }),
    email,
  );

test("sign-up, then a reload keeps the session and sends no request", async () => {
  const context = await h.context();
  const page = await h.open(context);
  assert.equal((await state(page)).isAuthenticated, false);
  const result = await signUp(page, "reload@example.com");
  assert.deepEqual(result, { signingIn: true });
  const before = await state(page);
  assert.equal(before.isAuthenticated, true);
  assert.match(before.userId, /users$/);

  const sent = (await h.requests()).length;
  await page.reload();
  await waitReady(page);
  await sleep(1000);
  const after = await state(page);
  assert.equal(after.isAuthenticated, true);
  assert.equal(after.token, before.token);
  assert.equal((await h.requests()).length, sent, "a reload with a valid JWT sends nothing");
  assert.deepEqual(await page.evaluate(() => window.events), ["initialized"]);
  await context.close();
});

test("constructor options: each bad option throws InvalidOptions naming it; good ones construct", async () => {
  const context = await h.context();
  const page = await h.open(context, { opts: { storage: "memory" } });
  const r = await page.evaluate(() => {
    const url = window.CONVEX_URL;
    const adapter = { getItem: () => null, setItem() {}, removeItem() {} };
    const attempt = (o) => {
      try {
        new window.ConvexAuthClient(o).free();
        return "ok";
      } catch (e) {
        return `${e.name}:${e.code}:${e.message}`;
      }
    };
    const getter = { url, get storage() { throw new Error("getter threw"); } };
    return [
      undefined, null, "x", {}, { url: 1 }, { url, stroage: "memory" }, { url, storage: "cookies" },
      { url, storage: 5 }, { url, storage: { getItem() {} } }, { url, storageNamespace: null },
      { url, shouldHandleCode: "yes" }, { url, replaceURL: "/" }, { url, navigate: "no" },
      { url, verbose: 1 }, getter, { url: "ftp://x" },
      { url, storage: adapter, storageNamespace: "ns", shouldHandleCode: () => false },
      { url, storage: "sessionStorage", replaceURL: () => {}, navigate: false, verbose: false },
      { url, storage: undefined, shouldHandleCode: true },
    ].map(attempt);
  });
  const bad = (field) => new RegExp(`^ConvexAuthError:InvalidOptions:.*${field}`);
  const expected = [
    "url", "url", "url", "url", "url", "Unknown option", "storage", "storage", "getItem",
    "storageNamespace", "shouldHandleCode", "replaceURL", "navigate", "verbose", "getter threw", "url",
  ];
  expected.forEach((field, i) => assert.match(r[i], bad(field), `case ${i}: ${r[i]}`));
  assert.deepEqual(r.slice(expected.length), ["ok", "ok", "ok"]);
  await context.close();
});

test("magic link round trip: the link's ?code= is removed and exchanged", async () => {
  const context = await h.context();
  const page = await h.open(context);
  const email = "magic@example.com";
  assert.deepEqual(await page.evaluate((email) => window.auth.signIn("magic-link", { email }), email), {
    signingIn: false,
  });
  const [message] = await h.outbox(email);
  assert.ok(message.url.includes(`${TEST_PAGE}?code=`));
  await page.goto(message.url);
  await waitReady(page);
  const s = await state(page);
  assert.equal(s.isAuthenticated, true);
  assert.equal(new URL(page.url()).searchParams.has("code"), false);
  const kinds = (await h.requests()).map((r) => r.kind);
  assert.deepEqual(kinds, ["signIn", "code"]);
  await context.close();
});

test("GitHub OAuth round trip through the local mock", async () => {
  await h.api("POST", "/_test/idp/user", { sub: "gh-7", email: "octo@example.com", name: "Octo Cat" });
  const context = await h.context();
  const page = await h.open(context);
  // signIn navigates the window to the provider; the chain returns to the page with ?code=.
  const navigated = page.waitForURL((url) => url.pathname === TEST_PAGE && url.searchParams.has("code"), {
    timeout: 20_000,
  });
  await page.evaluate(() => {
    window.auth.signIn("github");
  });
  await navigated;
  await waitReady(page);
  const s = await state(page);
  assert.equal(s.isAuthenticated, true);
  assert.equal(new URL(page.url()).searchParams.has("code"), false);
  const viewer = await page.evaluate(async () => {
    const r = await window.auth.fetch(`${window.CONVEX_URL}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "users:viewer", args: {}, format: "json" }),
    });
    return (await r.json()).value;
  });
  assert.equal(viewer.email, "octo@example.com");
  assert.equal(viewer.name, "Octo Cat");
  await context.close();
});

test("sign-out in one tab signs out the other", async () => {
  const context = await h.context();
  const first = await h.open(context);
  await signUp(first, "tabs@example.com");
  const second = await h.open(context);
  assert.equal((await state(second)).isAuthenticated, true);
  await first.evaluate(() => window.auth.signOut());
  await second.waitForFunction(() => window.auth.isAuthenticated === false, null, { timeout: 5000 });
  assert.ok((await second.evaluate(() => window.events)).includes("signedOut"));
  const signOuts = (await h.requests()).filter((r) => r.kind === "signOut");
  assert.equal(signOuts.length, 1);
  assert.equal(signOuts[0].hasAuth, true);
  await context.close();
});

test("a session stored under @convex-dev/auth/react's keys is picked up", async () => {
  const result = await h.api("POST", "/api/action", {
    path: "auth:signIn",
    args: { provider: "anonymous" },
    format: "json",
  });
  const { token, refreshToken } = result.value.tokens;
  const ns = h.convexUrl.replace(/[^a-zA-Z0-9]/g, "");
  const context = await h.context();
  const page = await context.newPage();
  // A page of the same origin that runs no client (the demo server answers unknown paths with
  // the demo app, which would read the tokens and query with them).
  await page.goto(`${h.pageUrl}/test/blank.html`);
  await page.evaluate(
    ([ns, token, refreshToken]) => {
      localStorage.setItem(`__convexAuthJWT_${ns}`, token);
      localStorage.setItem(`__convexAuthRefreshToken_${ns}`, refreshToken);
    },
    [ns, token, refreshToken],
  );
  const sent = (await h.requests()).length;
  await h.open(context, { page });
  const s = await state(page);
  assert.equal(s.isAuthenticated, true);
  assert.equal(s.token, token);
  // Compared as a list, so that a failure shows what was sent.
  assert.deepEqual((await h.requests()).slice(sent), [], "a valid stored JWT: no request");
  // And the other way round: what we store is what the official client reads.
  await page.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true }));
  const stored = await page.evaluate((ns) => localStorage.getItem(`__convexAuthJWT_${ns}`), ns);
  assert.equal(stored, await page.evaluate(() => window.auth.token));
  assert.notEqual(stored, token);
  await context.close();
});

test("listeners: a bad one is InvalidParams, a throwing one disturbs no other, each subscription is its own", async () => {
  const context = await h.context();
  const page = await h.open(context, { opts: { storage: "memory" } });
  const r = await page.evaluate(async () => {
    const { subscribe, onChange } = window.auth;
    const bad = [subscribe, onChange].map((f) => {
      try {
        f(42);
        return "no throw";
      } catch (e) {
        return `${e.name}:${e.code}`;
      }
    });
    const errors = [];
    const consoleError = console.error;
    console.error = (...args) => errors.push(String(args[0]));
    const calls = [];
    const twice = (s) => calls.push(`twice:${s.isAuthenticated}`);
    subscribe(() => {
      throw new Error("listener bug");
    });
    const stopFirst = subscribe(twice);
    subscribe(twice);
    onChange(() => {
      throw new Error("event listener bug");
    });
    onChange((e) => calls.push(`event:${e.type}`));
    stopFirst();
    await window.auth.signIn("anonymous");
    await window.auth.signOut();
    console.error = consoleError;
    return { bad, calls, errors };
  });
  assert.deepEqual(r.bad, ["ConvexAuthError:InvalidParams", "ConvexAuthError:InvalidParams"]);
  // Subscribing calls at once; the one of the two subscriptions of `twice` left answers each change.
  assert.deepEqual(r.calls, [
    "twice:false",
    "twice:false",
    "twice:true",
    "event:signedIn",
    "twice:false",
    "event:signedOut",
  ]);
  // At subscription and per change: the state listener threw 3 times, the event listener twice.
  assert.deepEqual(r.errors, Array(5).fill("[convex-auth-wasm] a listener threw:"));
  await context.close();
});

test("getSnapshot, subscribe, onChange and fetch work unbound; one snapshot object per state", async () => {
  const context = await h.context();
  const page = await h.open(context, { opts: { storage: "memory" } });
  const r = await page.evaluate(async () => {
    const { getSnapshot, subscribe, onChange, fetch: authFetch } = window.auth;
    const first = getSnapshot();
    const same = first === getSnapshot();
    const seen = [];
    const events = [];
    // Inside a listener, getSnapshot already answers the new state.
    const unsubscribe = subscribe((s) => seen.push([s.isAuthenticated, s === getSnapshot()]));
    const stopEvents = onChange((e) => events.push(e.type));
    // Params whose reading throws are an error value, and the client goes on.
    const trap = new Proxy({}, { ownKeys: () => { throw new Error("trap"); } });
    const badParams = await window.auth.signIn("password", trap).then(
      () => "resolved",
      (e) => `${e.name}:${e.code}`,
    );
    await window.auth.signIn("anonymous");
    const whoami = (await authFetch(`${window.CONVEX_URL}/whoami`)).status;
    const after = getSnapshot();
    unsubscribe();
    unsubscribe();
    stopEvents();
    await window.auth.signOut();
    return {
      badParams,
      whoami,
      same,
      changed: after !== first,
      authenticated: after.isAuthenticated,
      frozen: Object.isFrozen(after),
      seen,
      events,
      final: getSnapshot().isAuthenticated,
    };
  });
  assert.deepEqual(r, {
    badParams: "ConvexAuthError:InvalidParams",
    whoami: 200,
    same: true,
    changed: true,
    authenticated: true,
    frozen: true,
    seen: [
      [false, true],
      [true, true],
    ],
    events: ["signedIn"],
    final: false,
  });
  await context.close();
});
