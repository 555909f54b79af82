// Convex Auth v2 end to end: the built package (`version: "v2"`) in headless Chromium against the
// local v2 backend (www/v2, the real @convex-dev/auth 2.0.0). Every row of API.md's v2 mapping
// table through `auth.signIn`, the GitHub OAuth round trip through the local OAuth mock, passkeys
// with a CDP virtual authenticator, sessions (reload, refresh, sign-out, the official v2 client's
// storage, a stored v1 session), then a fault matrix and many tabs with 5 s tokens.
//
// Two backends, one after the other: the flows and sessions run with 2.0's own 60 s tokens (so
// that "no request" checks cannot race a scheduled refresh), the faults and the tabs with 5 s
// tokens. The figures of the fault matrix go to test-results/v2-resilience.json.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, beforeEach, describe, test } from "node:test";
import { RESULTS, sleep, startHarness, state, virtualAuthenticator, waitReady } from "./harness.mjs";

// pages/v2.html: t.html with `version: "v2"`, recording each event's state (`window.log`) and
// the state and URL at the moment ready() resolved (`window.atReady`).
const PAGE = "/test/v2.html";
const PASSWORD = "correct horse battery staple";
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
let serial = 0;
/** A fresh name: password checks are rate limited per user. */
const fresh = (prefix) => `${prefix}-${run}-${++serial}`;
const freshEmail = (prefix) => `${fresh(prefix)}@example.com`;

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
const header = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8"));
const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A fresh browser context (its own storage), closed when the test `t` ends, also when it fails:
 *  a page left open would keep refreshing and its requests would count in the next test. */
async function newContext(h, t) {
  const context = await h.context();
  t.after(() => context.close());
  return context;
}

/** Opens pages/v2.html (with `opts` and `query`) and waits for ready(). */
async function open(h, context, { opts, page, query = "" } = {}) {
  page ??= await context.newPage();
  const search = new URLSearchParams(query);
  if (opts) search.set("opts", JSON.stringify(opts));
  const qs = search.toString();
  await page.goto(`${h.pageUrl}${PAGE}${qs ? `?${qs}` : ""}`);
  await waitReady(page);
  return page;
}

/** `auth.signIn(provider, params)` in the page: `{ok}` with the result, or `{err}` with the
 *  error's name, code, message, retryable and data. */
const signIn = (page, provider, params) =>
  page.evaluate(
    ([provider, params]) =>
      window.auth.signIn(provider, params).then(
        (ok) => ({ ok: { ...ok, redirect: ok.redirect?.href } }),
        (e) => ({ err: { name: e.name, code: e.code, message: e.message, retryable: e.retryable, data: e.data } }),
      ),
    [provider, params],
  );

/** The page's localStorage as an object. */
const storage = (page) => page.evaluate(() => ({ ...localStorage }));

/** `users:viewer` with the page's session, through `auth.fetch`. */
const viewer = (page) =>
  page.evaluate(async () => {
    const r = await window.auth.fetch(`${window.CONVEX_URL}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "users:viewer", args: {}, format: "json" }),
    });
    return (await r.json()).value;
  });

/** Checks the signed-in state: a v2 JWT whose `sub` is `sessionId`, and `userId` the viewer's
 *  `_id` (the bundle's user). Returns the state. */
async function assertSignedIn(page, expectedUserId) {
  const s = await state(page);
  assert.equal(s.isAuthenticated, true);
  assert.equal(header(s.token).alg, "ES256");
  assert.equal(claims(s.token).aud, "convex-auth");
  assert.equal(s.sessionId, claims(s.token).sub, "sessionId is the JWT sub");
  assert.match(s.userId, /users$/);
  assert.notEqual(s.userId, s.sessionId);
  assert.equal(s.expiresAt, claims(s.token).exp * 1000);
  const user = await viewer(page);
  assert.equal(user?._id, s.userId, "userId is the bundle's user, the one the backend sees");
  if (expectedUserId !== undefined) assert.equal(s.userId, expectedUserId);
  return s;
}

/** Function paths and kinds of the logged calls (`/_test/requests`) from index `since`, without
 *  the tests' own `users:viewer` queries. */
const calls = async (h, since = 0) =>
  (await h.requests())
    .slice(since)
    .filter((r) => r.path !== "users:viewer")
    .map((r) => [r.path, r.kind]);

// ---------------------------------------------------------------------------------------------
describe("v2 sign-in methods, OAuth, passkeys and sessions (60 s tokens)", () => {
  let h;
  let ns;
  before(async () => {
    h = await startHarness({ version: "v2" });
    ns = h.convexUrl.replace(/[^a-zA-Z0-9]/g, "");
  });
  after(() => h?.close());
  beforeEach(() => h.reset());

  test("email + password: sign-up, the emailed code verifies, sign-in, wrong password, recovery", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    const email = freshEmail("pw");

    // Sign-up: a link is emailed; the browserSecret is kept under the official v2 key.
    assert.deepEqual(await signIn(page, "password", { email, password: PASSWORD, flow: "signUp" }), {
      ok: { signingIn: false, redirect: undefined },
    });
    assert.equal((await state(page)).isAuthenticated, false);
    const secretKey = `__convexAuthEmailPasswordSignUpSecret_${ns}`;
    assert.deepEqual(Object.keys(await storage(page)), [secretKey]);
    const [link] = await h.outbox(email);
    assert.equal(link.url, `${h.pageUrl}/validate-email?code=${link.code}`);

    // The link opens in another tab: its plain `?code=` is neither sent nor removed (the app's
    // landing page hands it to signIn) ...
    const sent = (await h.requests()).length;
    const landing = await open(h, context, { query: `code=${link.code}` });
    assert.equal(new URL(landing.url()).searchParams.get("code"), link.code);
    assert.equal((await state(landing)).isAuthenticated, false);
    assert.deepEqual(await calls(h, sent), []);
    // ... and verification there (no email needed in v2, the secret kept by the first tab)
    // signs in both tabs and drops the secret.
    assert.deepEqual(await signIn(landing, "password", { code: link.code, flow: "email-verification" }), {
      ok: { signingIn: true, redirect: undefined },
    });
    const first = await assertSignedIn(landing);
    assert.equal((await viewer(landing)).email, email);
    assert.deepEqual(Object.keys(await storage(landing)).sort(), [
      `__convexAuthJWT_${ns}`,
      `__convexAuthRefreshToken_${ns}`,
      `__convexAuthWasmUserId_${ns}`,
    ]);
    await page.waitForFunction((t) => window.auth.token === t, first.token, { timeout: 5000 });
    // (The first tab's userId and its sign-out are left to the tests "a tab that follows
    // another tab's sign-in ...".) Signed out from the tab that signed in, both are.
    await landing.evaluate(() => window.auth.signOut());
    await page.waitForFunction(() => !window.auth.isAuthenticated, null, { timeout: 5000 });
    await landing.close();

    // Sign-in: the same user, a new session.
    assert.deepEqual(await signIn(page, "password", { email, password: PASSWORD, flow: "signIn" }), {
      ok: { signingIn: true, redirect: undefined },
    });
    const second = await assertSignedIn(page, first.userId);
    assert.notEqual(second.sessionId, first.sessionId);
    await page.evaluate(() => window.auth.signOut());

    // A wrong password: the server's userError, as code and data; the state is left alone.
    const wrong = await signIn(page, "password", { email, password: "not the password", flow: "signIn" });
    assert.deepEqual(wrong, {
      err: {
        name: "ConvexAuthError",
        code: "INVALID_CREDENTIALS",
        message: wrong.err.message,
        retryable: false,
        data: { error: "INVALID_CREDENTIALS" },
      },
    });
    assert.equal(wrong.err.data.error, wrong.err.code);
    assert.equal((await state(page)).isAuthenticated, false);

    // Recovery: a link is emailed; completing it signs in with the new password.
    assert.deepEqual(await signIn(page, "password", { email, flow: "reset" }), {
      ok: { signingIn: false, redirect: undefined },
    });
    assert.deepEqual(Object.keys(await storage(page)), [`__convexAuthEmailPasswordRecoverySecret_${ns}`]);
    const reset = (await h.outbox(email)).find((m) => m.url?.includes("/reset-password?"));
    assert.equal(reset.url, `${h.pageUrl}/reset-password?code=${reset.code}`);
    const newPassword = "a brand new password";
    assert.deepEqual(await signIn(page, "password", { code: reset.code, newPassword, flow: "reset-verification" }), {
      ok: { signingIn: true, redirect: undefined },
    });
    await assertSignedIn(page, first.userId);
    await page.evaluate(() => window.auth.signOut());
    assert.equal(
      (await signIn(page, "password", { email, password: PASSWORD, flow: "signIn" })).err?.code,
      "INVALID_CREDENTIALS",
      "the old password no longer works",
    );
    assert.equal((await signIn(page, "password", { email, password: newPassword })).ok?.signingIn, true);
    await assertSignedIn(page, first.userId);

    assert.deepEqual(await calls(h), [
      ["auth:signUpWithEmailPassword", "signIn"],
      ["auth:completeSignUpWithEmailPassword", "signIn"],
      ["auth:signOut", "signOut"],
      ["auth:signInWithEmailPassword", "signIn"],
      ["auth:signOut", "signOut"],
      ["auth:signInWithEmailPassword", "signIn"],
      ["auth:startPasswordRecovery", "signIn"],
      ["auth:completePasswordRecovery", "signIn"],
      ["auth:signOut", "signOut"],
      ["auth:signInWithEmailPassword", "signIn"],
      ["auth:signInWithEmailPassword", "signIn"],
    ]);
  });

  test("username + password sign-up and sign-in; anonymous; a missing function is InvalidOptions", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    const username = fresh("user");
    assert.deepEqual(await signIn(page, "username-password", { username, password: PASSWORD, flow: "signUp" }), {
      ok: { signingIn: true, redirect: undefined },
    });
    const up = await assertSignedIn(page);
    assert.equal((await viewer(page)).username, username);
    await page.evaluate(() => window.auth.signOut());
    assert.deepEqual(await signIn(page, "username-password", { username, password: PASSWORD, flow: "signIn" }), {
      ok: { signingIn: true, redirect: undefined },
    });
    await assertSignedIn(page, up.userId);
    const wrong = await signIn(page, "username-password", { username, password: "nope nope nope", flow: "signIn" });
    assert.equal(wrong.err?.code, "INVALID_CREDENTIALS");
    assert.deepEqual(wrong.err.data, { error: "INVALID_CREDENTIALS" });
    // The failed attempt left the session alone.
    await assertSignedIn(page, up.userId);
    await page.evaluate(() => window.auth.signOut());

    assert.deepEqual(await signIn(page, "anonymous"), { ok: { signingIn: true, redirect: undefined } });
    const anon = await assertSignedIn(page);
    assert.notEqual(anon.userId, up.userId);
    assert.equal((await viewer(page)).isAnonymous, true);
    await page.evaluate(() => window.auth.signOut());

    // A function the deployment does not have: InvalidOptions naming it and the options.
    const renamed = await open(h, context, { opts: { functions: { signInAnonymously: "auth:nope" } } });
    const missing = await signIn(renamed, "anonymous");
    assert.equal(missing.err?.name, "ConvexAuthError");
    assert.equal(missing.err.code, "InvalidOptions");
    assert.match(missing.err.message, /auth:nope/);
    assert.match(missing.err.message, /`version`/);
    assert.match(missing.err.message, /`functions`/);
    assert.equal((await state(renamed)).isAuthenticated, false);

    assert.deepEqual(await calls(h), [
      ["auth:signUpWithUsernamePassword", "signIn"],
      ["auth:signOut", "signOut"],
      ["auth:signInWithUsernamePassword", "signIn"],
      ["auth:signInWithUsernamePassword", "signIn"],
      ["auth:signOut", "signOut"],
      ["auth:signInAnonymously", "signIn"],
      ["auth:signOut", "signOut"],
      ["auth:nope", null],
    ]);
  });

  test("GitHub OAuth round trip: the mock, the backend's callback, convexAuthCode completed before ready()", async (t) => {
    const who = { sub: fresh("gh"), email: `${fresh("octo")}@example.com`, name: "Octo Cat" };
    await h.api("POST", "/_test/idp/user", who);
    const context = await newContext(h, t);
    const page = await open(h, context, { query: "tab=2" });
    const flowKey = `__convexAuthProvider_oauth_flow_${ns}`;
    const hops = [];
    page.on("framenavigated", (f) => f === page.mainFrame() && hops.push(new URL(f.url())));
    const back = page.waitForURL((url) => url.pathname === PAGE && url.searchParams.has("convexAuthCode"), {
      timeout: 20_000,
    });
    const started = await signIn(page, "github");
    const authorize = new URL(started.ok.redirect);
    assert.equal(started.ok.signingIn, false);
    assert.equal(authorize.pathname, "/login/oauth/authorize");
    assert.equal(authorize.searchParams.get("redirect_uri"), `${h.convexUrl}/oauth/github/callback`);
    await back;
    await waitReady(page);
    // The code came back on the page's own URL (redirectTo defaults to it) ...
    const returned = hops.find((u) => u.searchParams.has("convexAuthCode"));
    assert.equal(returned.searchParams.get("tab"), "2");
    // ... and was removed and completed before ready() resolved.
    const atReady = await page.evaluate(() => window.atReady);
    assert.equal(atReady.state.isAuthenticated, true);
    assert.equal(new URL(atReady.url).searchParams.has("convexAuthCode"), false);
    assert.equal(new URL(page.url()).searchParams.has("convexAuthCode"), false);
    assert.equal(new URL(page.url()).searchParams.get("tab"), "2");
    const s = await assertSignedIn(page);
    assert.equal(atReady.state.userId, s.userId);
    const user = await viewer(page);
    assert.deepEqual([user.email, user.name, user.method], [who.email, who.name, "github"]);
    assert.equal((await storage(page))[flowKey], undefined, "the pending flow is consumed");
    const events = await page.evaluate(() => window.events);
    assert.deepEqual([...events].sort(), ["initialized", "signedIn"]);
    assert.deepEqual(await calls(h), [
      ["auth:startSignInWithGithub", "signIn"],
      ["/oauth/github/callback", null],
      ["auth:completeSignInWithGithub", "code"],
    ]);
  });

  test("GitHub OAuth denied: convexAuthError=access_denied is removed, an ACCESS_DENIED error event, signed out", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    const flowKey = `__convexAuthProvider_oauth_flow_${ns}`;
    // The user refuses at the provider: the mock's authorize page sends the browser back to
    // the backend's callback with error=access_denied, as GitHub does.
    await context.route(
      (url) => url.pathname === "/login/oauth/authorize",
      (route) => {
        const authorize = new URL(route.request().url());
        const callback = new URL(authorize.searchParams.get("redirect_uri"));
        callback.searchParams.set("error", "access_denied");
        callback.searchParams.set("state", authorize.searchParams.get("state"));
        return route.fulfill({ status: 302, headers: { Location: callback.href } });
      },
    );
    const back = page.waitForURL((url) => url.pathname === PAGE && url.searchParams.has("convexAuthError"), {
      timeout: 20_000,
    });
    await signIn(page, "github");
    await back;
    await waitReady(page);
    const atReady = await page.evaluate(() => window.atReady);
    assert.equal(atReady.state.isAuthenticated, false);
    assert.equal(new URL(atReady.url).searchParams.has("convexAuthError"), false);
    assert.equal(new URL(page.url()).search, "");
    const log = await page.evaluate(() => window.log);
    assert.deepEqual(log.map((e) => e.type).sort(), ["error", "initialized"]);
    const error = log.find((e) => e.type === "error");
    assert.equal(error.code, "ACCESS_DENIED");
    assert.equal(error.isAuthenticated, false);
    assert.deepEqual((await page.evaluate(() => window.errors))[0].data?.error, "ACCESS_DENIED");
    assert.equal((await storage(page))[flowKey], undefined, "the flow is dropped");
    assert.deepEqual(await calls(h), [
      ["auth:startSignInWithGithub", "signIn"],
      ["/oauth/github/callback", null],
    ]);

    // The same error parameter on the page of a signed-in user keeps the session.
    await signIn(page, "anonymous");
    const before = await state(page);
    await page.goto(`${h.pageUrl}${PAGE}?convexAuthError=access_denied`);
    await waitReady(page);
    const kept = await state(page);
    assert.equal(kept.token, before.token);
    assert.deepEqual((await page.evaluate(() => window.errors)).map((e) => e.code), ["ACCESS_DENIED"]);
  });

  test("passkeys with a virtual authenticator: register, sign out, authenticate; a cancelled ceremony", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    const { cdp, authenticatorId } = await virtualAuthenticator(context, page);
    const username = fresh("pk");

    // A new username: the register step (navigator.credentials.create).
    assert.deepEqual(await signIn(page, "passkey", { username }), { ok: { signingIn: true, redirect: undefined } });
    const up = await assertSignedIn(page);
    assert.equal((await viewer(page)).method, "usernamePasskey");
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].rpId, "localhost");
    assert.equal(credentials[0].isResidentCredential, true);
    await page.evaluate(() => window.auth.signOut());

    // Known now: the authenticate step (navigator.credentials.get) with that passkey.
    assert.deepEqual(await signIn(page, "passkey", { username }), { ok: { signingIn: true, redirect: undefined } });
    const again = await assertSignedIn(page, up.userId);
    assert.notEqual(again.sessionId, up.sessionId);
    const used = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    assert.deepEqual(used.map((c) => c.credentialId), credentials.map((c) => c.credentialId));
    assert.ok(used[0].signCount > credentials[0].signCount, "the passkey signed the assertion");
    await page.evaluate(() => window.auth.signOut());

    // The user declines verification: both steps reject with PasskeyCancelled, nothing finishes.
    await cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified: false });
    for (const name of [username, fresh("pk")]) {
      const cancelled = await signIn(page, "passkey", { username: name });
      assert.equal(cancelled.err?.name, "ConvexAuthError", name);
      assert.equal(cancelled.err.code, "PasskeyCancelled");
      assert.equal(cancelled.err.retryable, false);
    }
    assert.equal((await state(page)).isAuthenticated, false);
    assert.deepEqual(await calls(h), [
      ["auth:startSignInWithUsernamePasskey", "signIn"],
      ["auth:finishSignUpWithUsernamePasskey", "signIn"],
      ["auth:signOut", "signOut"],
      ["auth:startSignInWithUsernamePasskey", "signIn"],
      ["auth:finishSignInWithUsernamePasskey", "signIn"],
      ["auth:signOut", "signOut"],
      // The cancelled ones: a start each, no finish.
      ["auth:startSignInWithUsernamePasskey", "signIn"],
      ["auth:startSignInWithUsernamePasskey", "signIn"],
    ]);
  });

  test("passkey autofill: a conditional ceremony with a virtual authenticator signs in with a discoverable passkey", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    await virtualAuthenticator(context, page);
    const username = fresh("af");
    assert.deepEqual(await signIn(page, "passkey", { username }), { ok: { signingIn: true, redirect: undefined } });
    const up = await assertSignedIn(page);
    await page.evaluate(() => window.auth.signOut());
    // Chromium offers conditional mediation: the `.get` is the autofill one, which the virtual
    // authenticator answers with the discoverable passkey (no username given).
    assert.equal(await page.evaluate(() => PublicKeyCredential.isConditionalMediationAvailable()), true);
    const since = (await h.requests()).length;
    assert.deepEqual(await signIn(page, "passkey", { flow: "autofill" }), { ok: { signingIn: true, redirect: undefined } });
    await assertSignedIn(page, up.userId);
    assert.deepEqual(await calls(h, since), [
      ["auth:startAutofillSignInWithUsernamePasskey", "signIn"],
      ["auth:finishSignInWithUsernamePasskey", "signIn"],
    ]);
  });

  test("passkeys in a browser without WebAuthn: PasskeyUnsupported, nothing finished", async (t) => {
    const context = await newContext(h, t);
    await context.addInitScript(() => {
      delete window.PublicKeyCredential;
    });
    const page = await open(h, context);
    const since = (await h.requests()).length;
    const result = await signIn(page, "passkey", { username: fresh("nopk") });
    assert.equal(result.err?.name, "ConvexAuthError");
    assert.equal(result.err.code, "PasskeyUnsupported");
    assert.equal(result.err.retryable, false);
    assert.equal((await state(page)).isAuthenticated, false);
    // The server's start (its options for the ceremony), then nothing.
    assert.deepEqual(await calls(h, since), [["auth:startSignInWithUsernamePasskey", "signIn"]]);
  });

  test("sessions: a reload keeps userId with no request; a forced refresh is one refreshSession; sign-out is one signOut", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    await signIn(page, "username-password", { username: fresh("sess"), password: PASSWORD, flow: "signUp" });
    const signedIn = await assertSignedIn(page);
    const sent = (await h.requests()).length;

    await page.reload();
    await waitReady(page);
    const reloaded = await state(page);
    assert.deepEqual(
      [reloaded.token, reloaded.userId, reloaded.sessionId],
      [signedIn.token, signedIn.userId, signedIn.sessionId],
    );
    assert.deepEqual(await page.evaluate(() => window.events), ["initialized"]);
    assert.deepEqual(await calls(h, sent), [], "a reload with a valid JWT sends nothing");

    // A forced refresh: one refreshSession, a new JWT of the same session and user.
    const refreshed = await page.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true }));
    assert.notEqual(refreshed, signedIn.token);
    const after = await state(page);
    assert.deepEqual([after.token, after.userId, after.sessionId], [refreshed, signedIn.userId, signedIn.sessionId]);
    assert.deepEqual(await page.evaluate(() => window.events), ["initialized", "tokenRefreshed"]);
    assert.deepEqual(await calls(h, sent), [["auth:refreshSession", "refresh"]]);
    await assertSignedIn(page, signedIn.userId);

    // Sign-out: one signOut, storage cleared, the session gone on the server.
    const refreshToken = (await storage(page))[`__convexAuthRefreshToken_${ns}`];
    const before = (await h.requests()).length;
    await page.evaluate(() => window.auth.signOut());
    assert.equal((await state(page)).isAuthenticated, false);
    assert.deepEqual(await storage(page), {});
    assert.deepEqual(await calls(h, before), [["auth:signOut", "signOut"]]);
    const server = await h.api("POST", "/api/mutation", { path: "auth:refreshSession", args: { refreshToken }, format: "json" });
    assert.deepEqual(server.value, { kind: "noSession" }, "the server session was deleted");
  });

  test(
    "a tab that follows another tab's sign-in knows the user (userId from the shared storage)",
    async (t) => {
      const context = await newContext(h, t);
      const follower = await open(h, context);
      const signer = await open(h, context);
      await signIn(signer, "anonymous");
      const { token, userId, sessionId } = await state(signer);
      await follower.waitForFunction((t) => window.auth.token === t, token, { timeout: 5000 });
      assert.equal((await storage(follower))[`__convexAuthWasmUserId_${ns}`], `${sessionId}|${userId}`);
      await follower.waitForFunction((u) => window.auth.getSnapshot().userId === u, userId, { timeout: 3000 });
      const signedIn = (await follower.evaluate(() => window.log)).find((e) => e.type === "signedIn");
      assert.deepEqual([signedIn.userId, signedIn.sessionId], [userId, sessionId]);
    },
  );

  test(
    "sign-out in a tab that follows another tab's sign-in ends the server session",
    async (t) => {
      const context = await newContext(h, t);
      const follower = await open(h, context);
      const signer = await open(h, context);
      await signIn(signer, "anonymous");
      const { token } = await state(signer);
      await follower.waitForFunction((t) => window.auth.token === t, token, { timeout: 5000 });
      const refreshToken = (await storage(follower))[`__convexAuthRefreshToken_${ns}`];
      const since = (await h.requests()).length;
      await follower.evaluate(() => window.auth.signOut());
      await signer.waitForFunction(() => !window.auth.isAuthenticated, null, { timeout: 5000 });
      assert.deepEqual(await storage(follower), {});
      const server = await h.api("POST", "/api/mutation", { path: "auth:refreshSession", args: { refreshToken }, format: "json" });
      assert.deepEqual(server.value, { kind: "noSession" }, "the server session was deleted");
      assert.deepEqual(await calls(h, since).then((c) => c.slice(0, 1)), [["auth:signOut", "signOut"]]);
    },
  );

  test("a session stored by the official v2 client is picked up with no request; userId null until the next refresh", async (t) => {
    const result = await h.api("POST", "/api/mutation", { path: "auth:signInAnonymously", args: {}, format: "json" });
    const { accessToken, refreshToken, userId } = result.value.tokens;
    const context = await newContext(h, t);
    const page = await context.newPage();
    // A page of the same origin that runs no client writes the official client's keys.
    await page.goto(`${h.pageUrl}/test/blank.html`);
    await page.evaluate(
      ([ns, accessToken, refreshToken]) => {
        localStorage.setItem(`__convexAuthJWT_${ns}`, accessToken);
        localStorage.setItem(`__convexAuthRefreshToken_${ns}`, refreshToken);
      },
      [ns, accessToken, refreshToken],
    );
    const sent = (await h.requests()).length;
    await open(h, context, { page });
    const s = await state(page);
    assert.equal(s.isAuthenticated, true);
    assert.equal(s.token, accessToken);
    assert.equal(s.sessionId, claims(accessToken).sub);
    assert.equal(s.userId, null, "no user id is known for an adopted session, and never the sub");
    assert.deepEqual(await page.evaluate(() => window.events), ["initialized"]);
    assert.deepEqual(await calls(h, sent), [], "a valid stored JWT: no request");

    // The next refresh's bundle names the user; the official client reads what we store.
    const token = await page.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true }));
    const after = await state(page);
    assert.equal(after.userId, userId);
    assert.equal(after.sessionId, s.sessionId);
    const stored = await storage(page);
    assert.equal(stored[`__convexAuthJWT_${ns}`], token);
    assert.notEqual(stored[`__convexAuthRefreshToken_${ns}`], refreshToken);
    assert.deepEqual(await calls(h, sent), [["auth:refreshSession", "refresh"]]);
    // A reload now keeps the user id (kept beside the session) and sends nothing.
    const reloadedAt = (await h.requests()).length;
    await page.reload();
    await waitReady(page);
    assert.equal((await state(page)).userId, userId);
    assert.deepEqual(await calls(h, reloadedAt), []);
  });

  test("a stored v1 session is discarded by a v2 client: no request, only the initialized event", async (t) => {
    const now = Math.floor(Date.now() / 1000);
    // The shapes of a v1 session (PROTOCOL-V2.md §5): RS256, aud "convex", sub "userId|sessionId",
    // a refresh token with "|". One with a valid JWT, one with an expired JWT (a refresh is due).
    const v1 = (exp) =>
      `${b64url({ alg: "RS256", typ: "JWT", kid: "k1" })}.${b64url({
        sub: "jd7user000000000000000000|kd7session00000000000000",
        iat: now - 60,
        exp,
        iss: h.convexUrl,
        aud: "convex",
      })}.c2lnbmF0dXJl`;
    for (const exp of [now + 3600, now - 10]) {
      const context = await newContext(h, t);
      const page = await context.newPage();
      await page.goto(`${h.pageUrl}/test/blank.html`);
      await page.evaluate(
        ([ns, jwt]) => {
          localStorage.setItem(`__convexAuthJWT_${ns}`, jwt);
          localStorage.setItem(`__convexAuthRefreshToken_${ns}`, "jd7refresh0000000000000000|kd7session00000000000000");
        },
        [ns, v1(exp)],
      );
      const sent = (await h.requests()).length;
      await open(h, context, { page });
      const s = await state(page);
      assert.deepEqual(
        [s.isAuthenticated, s.isLoading, s.token, s.userId, s.sessionId],
        [false, false, null, null, null],
        `exp ${exp - now}`,
      );
      assert.deepEqual(await page.evaluate(() => window.events), ["initialized"]);
      await sleep(300);
      assert.deepEqual(await calls(h, sent), [], "nothing of the v1 session is sent anywhere");
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe("v2 faults and tabs (5 s tokens)", () => {
  const JWT_MS = 5000;
  let h;
  // The figures of the README's v2 resilience matrix, written to test-results/v2-resilience.json.
  const figures = {};
  before(async () => {
    h = await startHarness({ version: "v2", backendEnv: { JWT_DURATION_MS: String(JWT_MS) } });
  });
  after(async () => {
    if (Object.keys(figures).length > 0) {
      writeFileSync(`${RESULTS}/v2-resilience.json`, `${JSON.stringify(figures, null, 2)}\n`);
    }
    await h?.close();
  });
  beforeEach(() => h.reset());

  const signUp = (page) => signIn(page, "username-password", { username: fresh("fault"), password: PASSWORD, flow: "signUp" });
  const force = (page) => page.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true }));
  const refreshes = async (since = 0) => (await h.requests()).slice(since).filter((r) => r.kind === "refresh");
  /** Counts the times the page was seen signed out from this point on (`window.signedOut`). */
  const watchSignedIn = (page) =>
    page.evaluate(() => {
      window.signedOut = 0;
      window.auth.subscribe((s) => {
        if (!s.isAuthenticated) window.signedOut += 1;
      });
    });
  const signedOut = (page) => page.evaluate(() => window.signedOut);

  for (const [label, fault, code] of [
    ["network", { kind: "network" }, "Network"],
    ["lost-response", { kind: "lost-response" }, "Network"],
    ["status 503", { kind: "status", status: 503 }, "Server"],
    ["status 500", { kind: "status", status: 500 }, "Server"],
  ]) {
    test(`refreshSession ${label}: the session is kept, ${code} reported, one retry`, async (t) => {
      const context = await newContext(h, t);
      const page = await open(h, context);
      await signUp(page);
      const s0 = await state(page);
      await watchSignedIn(page);
      const since = (await h.requests()).length;
      await h.fault({ path: "auth:refreshSession", count: 1, ...fault });
      const started = Date.now();
      const t1 = await force(page);
      const ms = Date.now() - started;
      assert.ok(t1 && t1 !== s0.token);
      const s1 = await state(page);
      assert.deepEqual([s1.token, s1.userId, s1.sessionId], [t1, s0.userId, s0.sessionId]);
      const errors = await page.evaluate(() => window.errors);
      const sent = await refreshes(since);
      figures[`refreshSession ${label}`] = {
        signedOut: await signedOut(page),
        errorEvents: errors.map((e) => e.code),
        refreshRequests: sent.length,
        newTokenAfterMs: ms,
      };
      assert.equal(await signedOut(page), 0);
      assert.deepEqual(errors.map((e) => [e.code, e.retryable]), [[code, true]]);
      assert.deepEqual(
        sent.map((r) => r.fault),
        [fault.kind, null],
        "one failed attempt, one retry",
      );
      // The session works: a lost answer was recovered by presenting the redeemed token again.
      assert.equal((await viewer(page))?._id, s0.userId);
      assert.ok(!JSON.stringify(errors).includes(s0.token) && !JSON.stringify(errors).includes(t1), "no token in errors");
    });
  }

  test("offline for longer than a token, then online: never signed out, refreshed at once", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    await signUp(page);
    const s0 = await state(page);
    await watchSignedIn(page);
    await context.setOffline(true);
    await sleep(JWT_MS + 1500);
    const offline = await state(page);
    assert.equal(offline.isAuthenticated, true, "kept while offline");
    assert.equal(offline.token, s0.token);
    const failures = (await page.evaluate(() => window.errors)).length;
    assert.ok(failures >= 1, "failures reported");
    const since = (await h.requests()).length;
    const online = Date.now();
    await context.setOffline(false);
    await page.waitForFunction((t0) => window.auth.token !== t0, s0.token, { timeout: 10_000 });
    const recoveredMs = Date.now() - online;
    const s1 = await state(page);
    assert.deepEqual([s1.isAuthenticated, s1.userId, s1.sessionId], [true, s0.userId, s0.sessionId]);
    assert.equal((await viewer(page))?._id, s0.userId);
    await sleep(500);
    const sent = await refreshes(since);
    figures["offline 6.5 s (token 5 s), then online"] = {
      signedOut: await signedOut(page),
      errorEventsWhileOffline: failures,
      refreshRequestsAfterOnline: sent.length,
      newTokenAfterOnlineMs: recoveredMs,
    };
    assert.equal(await signedOut(page), 0);
    assert.equal(sent.length, 1, "one refresh once online");
    assert.ok(recoveredMs < 3000, `refreshed ${recoveredMs} ms after coming online`);
  });

  test("a session ended elsewhere signs this client out at its next refresh (noSession), and nothing else does", async (t) => {
    const context = await newContext(h, t);
    const page = await open(h, context);
    await signUp(page);
    const s0 = await state(page);
    const refreshToken = await page.evaluate((ns) => localStorage.getItem(`__convexAuthRefreshToken_${ns}`), h.convexUrl.replace(/[^a-zA-Z0-9]/g, ""));
    // Another device signs the session out (any token of the session works).
    assert.equal((await h.api("POST", "/api/mutation", { path: "auth:signOut", args: { refreshToken }, format: "json" })).status, "success");
    const since = (await h.requests()).length;
    const ended = Date.now();
    await page.waitForFunction(() => !window.auth.isAuthenticated, null, { timeout: JWT_MS + 5000 });
    figures["session ended elsewhere"] = { signedOutAfterMs: Date.now() - ended, tokenLifetimeMs: JWT_MS };
    assert.ok(Date.now() < s0.expiresAt + 1000, "signed out no later than the JWT's expiry");
    assert.deepEqual(await calls(h, since), [["auth:refreshSession", "refresh"]]);
    assert.deepEqual(await page.evaluate(() => window.events), ["initialized", "signedIn", "signedOut"]);
    assert.deepEqual(await storage(page), {});
  });

  /** The official v2 client in another tab holds the refresh lock (its name is the namespaced
   *  refresh-token key), rotates the session itself and stores the result under the shared
   *  keys, while this client's forced refresh waits. `sameSecond`: all of it within the second
   *  in which this client's JWT was issued. */
  async function lockInterop(t, sameSecond) {
    const ns = h.convexUrl.replace(/[^a-zA-Z0-9]/g, "");
    const context = await newContext(h, t);
    const page = await open(h, context);
    const official = await context.newPage();
    await official.goto(`${h.pageUrl}/test/blank.html`);
    // Start at the beginning of a second (the server runs on this machine's clock).
    if (sameSecond) await sleep(1000 - (Date.now() % 1000) + 20);
    await signIn(page, "anonymous");
    const s0 = await state(page);
    await official.evaluate((ns) => {
      window.holding = new Promise((held) => {
        window.done = navigator.locks.request(`__convexAuthRefreshToken_${ns}`, async () => {
          held();
          await new Promise((release) => (window.release = release));
        });
      });
      return window.holding;
    }, ns);
    const since = (await h.requests()).length;
    const forced = page.evaluate(() => window.auth.fetchAccessToken({ forceRefreshToken: true }));
    // A forced rotation never gives back the caller's token: the client waits for the next
    // second and then for the lock.
    await sleep(sameSecond ? 50 : 1500);
    assert.deepEqual(await calls(h, since), [], "the forced refresh waits for the lock");
    const rotated = await official.evaluate(
      async ([ns, url]) => {
        const refreshToken = localStorage.getItem(`__convexAuthRefreshToken_${ns}`);
        const r = await fetch(`${url}/api/mutation`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ path: "auth:refreshSession", args: { refreshToken }, format: "json" }),
        });
        const { tokens } = (await r.json()).value;
        localStorage.setItem(`__convexAuthJWT_${ns}`, tokens.accessToken);
        localStorage.setItem(`__convexAuthRefreshToken_${ns}`, tokens.refreshToken);
        // Web Locks do not order localStorage across tabs (PROTOCOL-V2.md §7): without a pause
        // here the waiting tab now and then reads the old values under the lock and rotates the
        // redeemed token again (seen in about 1 run of 10).
        await new Promise((r) => setTimeout(r, 150));
        window.release();
        await window.done;
        return tokens.accessToken;
      },
      [ns, h.convexUrl],
    );
    assert.equal(claims(rotated).iat === claims(s0.token).iat, sameSecond, "the timing the case wants");
    const token = await forced;
    const s1 = await state(page);
    assert.deepEqual([s1.token, s1.userId, s1.sessionId], [token, s0.userId, s0.sessionId]);
    assert.deepEqual(await calls(h, since), [["auth:refreshSession", "refresh"]], "only the other tab's");
    assert.equal(token, rotated, "the token the other tab stored");
  }

  test("a forced refresh waits for the official v2 client's lock and reuses the token it stored: no request of its own", (t) =>
    lockInterop(t, false));

  test(
    "the same, when the other client rotated within the second this client's JWT was issued",
    (t) => lockInterop(t, true),
  );

  for (const tabs of [2, 4]) {
    test(`${tabs} tabs of one storage × 3 rotations: one refreshSession per rotation, never signed out`, { timeout: 60_000 }, async (t) => {
      const ROTATIONS = 3;
      const context = await newContext(h, t);
      const first = await open(h, context);
      await signUp(first);
      const pages = [first];
      for (let i = 1; i < tabs; i++) pages.push(await open(h, context));
      const s0 = await state(first);
      for (const page of pages) {
        assert.equal((await state(page)).token, s0.token, "every tab adopts the stored session");
        await watchSignedIn(page);
      }
      const since = (await h.requests()).length;
      const perRotation = [];
      let previous = s0.token;
      for (let k = 1; k <= ROTATIONS; k++) {
        // Wait for the k-th rotation to reach every tab ...
        const deadline = Date.now() + JWT_MS * 2;
        let tokens;
        for (;;) {
          tokens = await Promise.all(pages.map((p) => p.evaluate(() => window.auth.token)));
          if (tokens.every((t) => t === tokens[0] && t !== previous)) break;
          assert.ok(Date.now() < deadline, `rotation ${k} did not reach every tab: ${tokens.map((t) => t?.slice(-6))}`);
          await sleep(100);
        }
        previous = tokens[0];
        // ... and let any concurrent duplicate land before counting (the next rotation is
        // about 3.7 s away).
        await sleep(700);
        perRotation.push((await refreshes(since)).length - perRotation.reduce((a, b) => a + b, 0));
      }
      const counts = await Promise.all(pages.map(signedOut));
      const userIds = await Promise.all(pages.map(async (p) => (await state(p)).userId));
      figures[`${tabs} tabs × ${ROTATIONS} rotations`] = {
        refreshRequestsPerRotation: perRotation,
        signedOutPerTab: counts,
      };
      assert.deepEqual(perRotation, Array(ROTATIONS).fill(1), "exactly one refreshSession per rotation");
      assert.deepEqual(counts, Array(tabs).fill(0), "no tab was ever signed out");
      assert.deepEqual(userIds, Array(tabs).fill(s0.userId));
      assert.ok((await refreshes(since)).every((r) => r.status === 200));
    });
  }
});
