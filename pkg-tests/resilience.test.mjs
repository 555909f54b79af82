// Real faults against the built package in headless Chromium: the local backend's injected
// faults, offline periods, many tabs rotating at once, a tab closed mid-refresh, a skewed clock,
// storage that throws or holds garbage, and the encrypted storage. Tokens live 5 s here.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { writeFileSync } from "node:fs";
import { RESULTS, sleep, startHarness, state, waitReady } from "./harness.mjs";

const JWT_MS = 5000;
let h;
// The figures of the README's resilience matrix, written to test-results/resilience.json.
const figures = {};
before(async () => {
  h = await startHarness({ backendEnv: { JWT_DURATION_MS: String(JWT_MS) } });
});
after(async () => {
  writeFileSync(`${RESULTS}/resilience.json`, `${JSON.stringify(figures, null, 2)}\n`);
  await h?.close();
});
beforeEach(() => h.reset());

let emails = 0;
const signUp = (page) =>
  page.evaluate(
    (email) => window.auth.signIn("password", { email, password: "correct horse battery", flow: "signUp" }),
    `resilience-${process.pid}-${++emails}@example.com`,
  );
const force = (page) => page.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true }));
const refreshes = async (since = 0) => (await h.requests()).slice(since).filter((r) => r.kind === "refresh");
const page$ = (page, expr) => page.evaluate(expr);
/** Records whether the page was ever signed out after this point. */
const watchSignedIn = (page) =>
  page.evaluate(() => {
    window.everSignedOut = false;
    window.auth.subscribe((s) => {
      if (!s.isAuthenticated) window.everSignedOut = true;
    });
  });

// ---- faults on refresh, sign-in, sign-out ----

for (const [kind, extra, code] of [
  ["network", {}, "Network"],
  ["lost-response", {}, "Network"],
  ["status", { status: 503 }, "Server"],
  ["status", { status: 502 }, "Server"],
]) {
  test(`refresh: ${kind}${extra.status ? ` ${extra.status}` : ""} keeps the session, reports ${code}, retries`, async () => {
    const context = await h.context();
    const page = await h.open(context);
    await signUp(page);
    const t0 = (await state(page)).token;
    await watchSignedIn(page);
    const since = (await h.requests()).length;
    await h.fault({ path: "auth:signIn", kind, count: 1, ...extra });
    const started = Date.now();
    const t1 = await force(page);
    const ms = Date.now() - started;
    assert.ok(t1 && t1 !== t0);
    assert.equal(await page$(page, () => window.everSignedOut), false);
    const errors = await page$(page, () => window.errors);
    figures[`refresh ${kind}${extra.status ? ` ${extra.status}` : ""}`] = {
      signedOut: false,
      errorEvents: errors.map((e) => e.code),
      refreshRequests: (await refreshes(since)).length,
      newTokenAfterMs: ms,
    };
    assert.deepEqual(errors.map((e) => [e.code, e.retryable]), [[code, true]]);
    const sent = await refreshes(since);
    assert.equal(sent.length, 2, "one failed attempt, one retry");
    if (kind === "lost-response") {
      // The server rotated on the lost attempt; the retry with the same refresh token got the
      // same child back (reuse window), so the session is intact and usable.
      const viewer = await page.evaluate(async () => (await window.auth.fetch(`${window.CONVEX_URL}/whoami`)).status);
      assert.equal(viewer, 200);
    }
    assert.ok(!JSON.stringify(errors).includes(t0) && !JSON.stringify(errors).includes(t1), "no token in errors");
    await context.close();
  });
}

test("refresh: a request that hangs times out and is retried", { timeout: 60_000 }, async () => {
  const context = await h.context();
  const page = await h.open(context, { opts: {} });
  await signUp(page);
  await watchSignedIn(page);
  const t0 = (await state(page)).token;
  await h.fault({ path: "auth:signIn", kind: "delay", delayMs: 17_000, count: 1 });
  const started = Date.now();
  const t1 = await force(page);
  figures["refresh hangs (17 s)"] = { signedOut: false, errorEvents: ["Timeout"], newTokenAfterMs: Date.now() - started };
  assert.ok(t1 && t1 !== t0);
  assert.deepEqual((await page$(page, () => window.errors)).map((e) => e.code), ["Timeout"]);
  assert.equal(await page$(page, () => window.everSignedOut), false);
  await context.close();
});

test("sign-in: faults reject with typed errors and leave the state alone", async () => {
  const context = await h.context();
  const page = await h.open(context);
  for (const [kind, extra, code] of [
    ["network", {}, "Network"],
    ["lost-response", {}, "Network"],
    ["status", { status: 503 }, "Server"],
  ]) {
    await h.fault({ path: "auth:signIn", kind, count: 1, ...extra });
    const err = await page.evaluate(() =>
      window.auth.signIn("anonymous").then(
        () => null,
        (e) => ({ name: e.name, code: e.code, retryable: e.retryable }),
      ),
    );
    assert.deepEqual(err, { name: "ConvexAuthError", code, retryable: true }, kind);
    assert.equal((await state(page)).isAuthenticated, false);
    figures[`sign-in ${kind}${extra.status ? ` ${extra.status}` : ""}`] = { rejectsWith: code, retryable: true };
  }
  assert.deepEqual(await signUp(page), { signingIn: true });
  await context.close();
});

for (const [kind, extra] of [
  ["network", {}],
  ["lost-response", {}],
  ["status", { status: 503 }],
]) {
  test(`sign-out: ${kind}${extra.status ? ` ${extra.status}` : ""} still signs out locally`, async () => {
    const context = await h.context();
    const page = await h.open(context);
    await signUp(page);
    await h.fault({ path: "auth:signOut", kind, count: 1, ...extra });
    await page.evaluate(() => window.auth.signOut());
    assert.equal((await state(page)).isAuthenticated, false);
    assert.equal(await page$(page, () => localStorage.length), 0);
    figures[`sign-out ${kind}${extra.status ? ` ${extra.status}` : ""}`] = { signedOutLocally: true, storageCleared: true };
    await context.close();
  });
}

// ---- auth.fetch ----

test("auth.fetch: Bearer to the deployment only; a 401 refreshes once and retries once", async () => {
  const context = await h.context();
  const page = await h.open(context);
  await signUp(page);
  const authHeaders = [];
  page.on("request", (r) => authHeaders.push([new URL(r.url()).origin, r.headers().authorization ?? null]));
  const whoami = () => page.evaluate(async () => (await window.auth.fetch(`${window.CONVEX_URL}/whoami`)).status);
  assert.equal(await whoami(), 200);
  // Another origin (the page's own server) never gets the token.
  assert.equal(await page.evaluate(async () => (await window.auth.fetch("/favicon.svg")).status), 200);
  const foreign = authHeaders.filter(([origin]) => origin === h.pageUrl);
  assert.ok(foreign.length >= 1 && foreign.every(([, a]) => a === null), "no Authorization for another origin");
  assert.ok(authHeaders.some(([origin, a]) => origin === h.convexUrl && a?.startsWith("Bearer ")));
  // fetch's own argument forms get the token too (a URL, a Request, a Request with init);
  // anything else is InvalidParams.
  const forms = await page.evaluate(async () => {
    const u = `${window.CONVEX_URL}/whoami`;
    const statuses = [];
    statuses.push((await window.auth.fetch(new URL(u))).status);
    statuses.push((await window.auth.fetch(new Request(u))).status);
    statuses.push((await window.auth.fetch(new Request(u), { method: "GET" })).status);
    const bad = await window.auth.fetch(42).then(
      () => "resolved",
      (e) => `${e.name}:${e.code}`,
    );
    return [statuses, bad];
  });
  assert.deepEqual(forms, [[200, 200, 200], "ConvexAuthError:InvalidParams"]);
  // One 401: refresh once, retry once, succeed.
  let since = (await h.requests()).length;
  await h.fault({ path: "/whoami", kind: "status", status: 401, count: 1 });
  assert.equal(await whoami(), 200);
  let log = (await h.requests()).slice(since);
  assert.equal(log.filter((r) => r.kind === "refresh").length, 1);
  // Two 401s: the second answer is returned, no loop.
  since = (await h.requests()).length;
  await h.fault({ path: "/whoami", kind: "status", status: 401, count: 2 });
  assert.equal(await whoami(), 401);
  log = (await h.requests()).slice(since);
  assert.equal(log.filter((r) => r.kind === "refresh").length, 1, "refreshed once, not in a loop");
  figures["auth.fetch 401"] = { refreshes: 1, retries: 1, tokenToOtherOrigins: false };
  await context.close();
});

// ---- offline, sleep and skew ----

test("offline for longer than a token lifetime, then online: refreshed at once, never signed out", async () => {
  const context = await h.context();
  const page = await h.open(context);
  await signUp(page);
  await watchSignedIn(page);
  const t0 = (await state(page)).token;
  await context.setOffline(true);
  await sleep(JWT_MS + 1500);
  assert.equal((await state(page)).isAuthenticated, true, "kept while offline");
  assert.ok((await page$(page, () => window.errors)).length >= 1, "failures reported");
  const since = (await h.requests()).length;
  const failures = (await page$(page, () => window.errors)).length;
  await context.setOffline(false);
  const online = Date.now();
  const deadline = online + 3000;
  while ((await state(page)).token === t0 && Date.now() < deadline) await sleep(20);
  assert.notEqual((await state(page)).token, t0, "refreshed within 3 s of coming online");
  assert.equal(await page$(page, () => window.everSignedOut), false);
  const after = (await refreshes(since)).length;
  assert.ok(after <= 2);
  figures[`offline ${JWT_MS + 1500} ms, then online`] = {
    signedOut: false,
    errorEventsWhileOffline: failures,
    newTokenAfterOnlineMs: Date.now() - online,
    refreshRequestsAfterOnline: after,
  };
  await context.close();
});

for (const skewMs of [3_600_000, -3_600_000]) {
  test(`a device clock off by ${skewMs > 0 ? "+" : "-"}1 h: refreshes on the token's own schedule`, async () => {
    const context = await h.context();
    await context.addInitScript((skew) => {
      const now = Date.now.bind(Date);
      Date.now = () => now() + skew;
    }, skewMs);
    const page = await h.open(context);
    await signUp(page);
    await watchSignedIn(page);
    const since = (await h.requests()).length;
    await sleep(2 * JWT_MS);
    const sent = await refreshes(since);
    // Due at 3/4 of each 5 s lifetime: two or three rotations in 10 s, not a storm, not none.
    assert.ok(sent.length >= 2 && sent.length <= 3, `refreshes: ${sent.length}`);
    figures[`clock ${skewMs > 0 ? "+" : "-"}1 h`] = { signedOut: false, refreshesIn10sOf5sTokens: sent.length };
    assert.equal(await page$(page, () => window.everSignedOut), false);
    assert.equal((await state(page)).isAuthenticated, true);
    await context.close();
  });
}

// ---- tabs ----

for (const tabs of [2, 4, 8]) {
  test(`${tabs} tabs × 3 concurrent forced refreshes, 20 rotations: one request per rotation`, { timeout: 120_000 }, async () => {
    const context = await h.context();
    const first = await h.open(context);
    await signUp(first);
    const pages = [first];
    for (let i = 1; i < tabs; i++) pages.push(await h.open(context));
    for (const p of pages) await watchSignedIn(p);
    const since = (await h.requests()).length;
    const seen = new Set();
    const started = Date.now();
    for (let round = 0; round < 20; round++) {
      const tokens = (
        await Promise.all(
          pages.map((p) =>
            p.evaluate(() => {
              const f = window.auth.fetchAccessToken;
              return Promise.all([f({ forceRefreshToken: true }), f({ forceRefreshToken: true }), f({ forceRefreshToken: true })]);
            }),
          ),
        )
      ).flat();
      assert.equal(new Set(tokens).size, 1, `round ${round}: every tab and caller got the same token`);
      assert.ok(tokens[0] && !seen.has(tokens[0]), `round ${round}: a new token`);
      seen.add(tokens[0]);
    }
    const sent = (await refreshes(since)).length;
    figures[`${tabs} tabs × 3 callers, 20 forced rotations`] = {
      signedOut: false,
      refreshRequests: sent,
      msPerRotation: Math.round((Date.now() - started) / 20),
    };
    assert.equal(sent, 20);
    for (const p of pages) assert.equal(await page$(p, () => window.everSignedOut), false);
    await context.close();
  });
}

test("a tab closed in the middle of a refresh: the lock is freed and the other tab carries on", async () => {
  const context = await h.context();
  const a = await h.open(context);
  await signUp(a);
  const b = await h.open(context);
  await watchSignedIn(b);
  const t0 = (await state(b)).token;
  await h.fault({ path: "auth:signIn", kind: "delay", delayMs: 1500, count: 1 });
  // A starts rotating and is closed while its request is in flight, holding the lock.
  a.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true })).catch(() => {});
  await sleep(1200);
  await a.close();
  const started = Date.now();
  const t1 = await force(b);
  figures["tab closed mid-refresh"] = { signedOut: false, otherTabNewTokenAfterMs: Date.now() - started };
  assert.ok(t1 && t1 !== t0);
  assert.equal(await page$(b, () => window.everSignedOut), false);
  await context.close();
});

// ---- storage failures ----

test("storage whose setItem throws: signed in from memory, one Storage error", async () => {
  const context = await h.context();
  await context.addInitScript(() => {
    Storage.prototype.setItem = () => {
      throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
    };
  });
  const page = await h.open(context);
  await signUp(page);
  assert.equal((await state(page)).isAuthenticated, true);
  const t1 = await force(page);
  assert.equal((await state(page)).token, t1);
  assert.deepEqual((await page$(page, () => window.errors)).map((e) => e.code), ["Storage"]);
  figures["setItem throws QuotaExceededError"] = { signedIn: true, errorEvents: ["Storage"], fallback: "memory" };
  await context.close();
});

test("storage whose getItem throws: ready, one Storage error, sign-in works", async () => {
  const context = await h.context();
  await context.addInitScript(() => {
    Storage.prototype.getItem = () => {
      throw new DOMException("The operation is insecure.", "SecurityError");
    };
  });
  const page = await h.open(context);
  assert.equal((await state(page)).isLoading, false);
  assert.deepEqual(await signUp(page), { signingIn: true });
  assert.deepEqual((await page$(page, () => window.errors)).map((e) => e.code), ["Storage"]);
  figures["getItem throws SecurityError"] = { ready: true, signInWorks: true, errorEvents: ["Storage"] };
  await context.close();
});

test("localStorage that cannot even be opened: ready in memory, one Storage error, sign-in and refresh work", async () => {
  const context = await h.context();
  await context.addInitScript(() => {
    // As in sandboxed frames and with site data blocked: reading `window.localStorage` throws.
    Object.defineProperty(window, "localStorage", {
      get() {
        throw new DOMException("The operation is insecure.", "SecurityError");
      },
    });
  });
  const page = await h.open(context);
  assert.equal((await state(page)).isLoading, false);
  assert.deepEqual(await signUp(page), { signingIn: true });
  const t1 = await force(page);
  assert.ok(t1);
  assert.equal((await state(page)).token, t1);
  const errors = await page$(page, () => window.errors.map((e) => [e.code, e.retryable, e.message]));
  assert.deepEqual(errors, [["Storage", false, "The operation is insecure."]]);
  figures["localStorage access throws SecurityError"] = { ready: true, signInWorks: true, errorEvents: ["Storage"] };
  await context.close();
});

for (const kind of ["rejects", "never settles"]) {
  test(`an async adapter whose Promise ${kind}: memory fallback, one Storage error`, async () => {
    const context = await h.context();
    const page = await h.open(context, { opts: { storage: "memory" } });
    const started = Date.now();
    const outcome = await page.evaluate(async (kind) => {
      const fail = () => (kind === "rejects" ? Promise.reject(new Error("disk on fire")) : new Promise(() => {}));
      const errors = [];
      const auth = new window.ConvexAuthClient({
        url: window.CONVEX_URL,
        storageNamespace: "adapter",
        storage: { getItem: fail, setItem: fail, removeItem: fail },
      });
      auth.onChange((e) => e.error && errors.push(e.error.code));
      await auth.ready();
      const result = await auth.signIn("anonymous");
      const token = await auth.fetchAccessToken({ forceRefreshToken: true });
      const out = { result, signedIn: auth.isAuthenticated, token: token === auth.token, errors };
      auth.free();
      return out;
    }, kind);
    assert.deepEqual(outcome, { result: { signingIn: true }, signedIn: true, token: true, errors: ["Storage"] });
    figures[`adapter Promise ${kind}`] = { signedIn: true, errorEvents: ["Storage"], fallback: "memory", totalMs: Date.now() - started };
    await context.close();
  });
}

test("storage that breaks after sign-in: the session goes on in memory, refreshes included", async () => {
  const context = await h.context();
  const page = await h.open(context, { opts: { storage: "memory" } });
  const out = await page.evaluate(async () => {
    const m = new Map();
    let broken = false;
    const check = () => {
      if (broken) throw new Error("disk gone");
    };
    const storage = {
      getItem: (k) => (check(), m.get(k)),
      setItem: (k, v) => (check(), void m.set(k, v)),
      removeItem: (k) => (check(), void m.delete(k)),
    };
    const errors = [];
    const auth = new window.ConvexAuthClient({ url: window.CONVEX_URL, storageNamespace: "breaks", storage });
    auth.onChange((e) => e.error && errors.push(e.error.code));
    await auth.ready();
    await auth.signIn("anonymous");
    const t0 = auth.token;
    broken = true;
    // The refresh token was only in the storage that broke: the client carried it over.
    const t1 = await auth.fetchAccessToken({ forceRefreshToken: true });
    const t2 = await auth.fetchAccessToken({ forceRefreshToken: true });
    const out = { signedIn: auth.isAuthenticated, rotated: !!t1 && t1 !== t0 && !!t2 && t2 !== t1, errors };
    auth.free();
    return out;
  });
  assert.deepEqual(out, { signedIn: true, rotated: true, errors: ["Storage"] });
  await context.close();
});

test("free() with a refresh waiting: its Promise settles, no request is sent, storage is kept", async () => {
  const context = await h.context();
  const page = await h.open(context);
  await signUp(page);
  const since = (await h.requests()).length;
  const out = await page.evaluate(async () => {
    const stored = () => Object.entries(localStorage).filter(([k]) => k.startsWith("__convexAuth")).sort().join();
    const before = stored();
    const b = new window.ConvexAuthClient({ url: window.CONVEX_URL });
    await b.ready();
    // A forced refresh first waits for the server clock to leave the second of the token's iat.
    const token = b.fetchAccessToken({ forceRefreshToken: true });
    b.free();
    const result = await token;
    await new Promise((r) => setTimeout(r, 1500));
    return { result, kept: stored() === before };
  });
  assert.deepEqual(out, { result: null, kept: true });
  assert.deepEqual(await refreshes(since), []);
  await context.close();
});

test("a corrupt stored JWT beside a good refresh token: the session is recovered", async () => {
  const context = await h.context();
  const page = await h.open(context);
  await signUp(page);
  await page.evaluate(() => {
    const key = Object.keys(localStorage).find((k) => k.startsWith("__convexAuthJWT_"));
    localStorage.setItem(key, localStorage.getItem(key).slice(0, 40));
  });
  const since = (await h.requests()).length;
  await page.reload();
  await waitReady(page);
  const s = await state(page);
  assert.equal(s.isAuthenticated, true);
  figures["truncated stored JWT"] = { signedIn: true, requestsAtLoad: (await h.requests()).length - since };
  assert.deepEqual(await page$(page, () => window.events), ["initialized"]);
  await context.close();
});

test("garbage in every key: a clean signed-out state, no crash", async () => {
  const context = await h.context();
  const page = await h.open(context);
  await page.evaluate(() => {
    const ns = window.CONVEX_URL.replace(/[^a-zA-Z0-9]/g, "");
    for (const k of ["__convexAuthJWT_", "__convexAuthRefreshToken_", "__convexAuthOAuthVerifier_"])
      localStorage.setItem(k + ns, "\u0000{not: a token}\uD800");
  });
  await page.reload();
  await waitReady(page);
  assert.equal((await state(page)).isAuthenticated, false);
  assert.deepEqual(await signUp(page), { signingIn: true });
  figures["garbage in every key"] = { signedIn: false, crashed: false, signInWorks: true };
  await context.close();
});

// ---- encrypted storage ----

test("encrypted storage: survives reloads, shared by tabs, nothing in Web Storage", async () => {
  const context = await h.context();
  const opts = { storage: "encrypted" };
  const a = await h.open(context, { opts });
  await signUp(a);
  const token = (await state(a)).token;
  const webStorage = await a.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
  assert.ok(!webStorage.includes(token.slice(0, 30)), "no token in Web Storage");
  const sent = (await h.requests()).length;
  await a.reload();
  await waitReady(a);
  assert.equal((await state(a)).token, token, "survives a reload");
  const b = await h.open(context, { opts });
  assert.equal((await state(b)).token, token, "a second tab shares it");
  assert.equal((await h.requests()).length, sent, "with no request");
  figures["encrypted: reload + second tab"] = { signedIn: true, requests: 0, tokenInWebStorage: false };
  const t1 = await force(a);
  const deadline = Date.now() + 3000;
  while ((await state(b)).token !== t1 && Date.now() < deadline) await sleep(50);
  assert.equal((await state(b)).token, t1, "the other tab follows a refresh");
  await a.evaluate(() => window.auth.signOut());
  while ((await state(b)).isAuthenticated && Date.now() < deadline + 3000) await sleep(50);
  assert.equal((await state(b)).isAuthenticated, false, "and a sign-out");
  await context.close();
});
