// The WebSocket sync endpoint (/api/<version>/sync) of the v2 backend with the official
// `ConvexClient` of convex 1.51: live queries across clients, auth over sync with Convex Auth
// 2.0's access tokens, refreshes (refreshSession) across expiries, auth errors.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { ConvexClient } from "convex/browser";
import * as jose from "jose";
import WebSocket from "ws";
import { Recorder, ZERO_TS, claims, rawSync, u64 } from "../../test/sync-helpers.mjs";
import { anonymous, auth as callAuth, client as httpClient, reset, startBackend, testApi } from "./helpers.mjs";

// The shortest lifetime the official client schedules refreshes for is 3 s (exp - iat > 2).
const JWT_MS = 3000;
let backend;
const clients = new Set();

before(async () => {
  backend = await startBackend({ JWT_DURATION_MS: String(JWT_MS) });
});
after(async () => {
  await Promise.all([...clients].map((c) => c.close()));
  await backend.stop();
});
beforeEach(() => reset(backend));

function connect(options = {}) {
  const c = new ConvexClient(backend.url, {
    webSocketConstructor: WebSocket,
    unsavedChangesWarning: false,
    logger: false,
    ...options,
  });
  clients.add(c);
  return c;
}
async function disconnect(c) {
  clients.delete(c);
  await c.close();
}

/** A subscription whose results (and errors) land in `recorder` as "value"/"error" events. */
function watch(c, name, args = {}) {
  const recorder = new Recorder();
  c.onUpdate(name, args, (v) => recorder.push("value", v), (e) => recorder.push("error", e));
  return recorder;
}

/** Auth through the base client, so that server rejections (onRefreshChange) are visible. */
function authenticate(c, fetchToken) {
  const recorder = new Recorder();
  c.client.setAuth(
    async (args) => {
      recorder.push("fetch", args);
      return await fetchToken(args, recorder);
    },
    (isAuthenticated) => recorder.push("auth", isAuthenticated),
    (isRefreshing) => recorder.push("refreshing", isRefreshing),
  );
  return recorder;
}

const bodies = (messages) => messages.map((m) => m.body);

/** Rotates the session (refreshSession); a new access token must differ from the previous one. */
async function refreshed(previous) {
  const result = await callAuth(backend, "refreshSession", { refreshToken: previous.refreshToken });
  assert.equal(result.kind, "rotated");
  let next = result.tokens;
  if (next.accessToken === previous.accessToken) {
    // Second-resolution iat/exp: rotate again from the next second.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    next = (await callAuth(backend, "refreshSession", { refreshToken: next.refreshToken })).tokens;
  }
  return next;
}

test("a subscription sees other clients' mutations live, over sync and over HTTP", async () => {
  const tokens = await anonymous(backend);
  const a = connect();
  const b = connect();
  authenticate(a, async () => tokens.accessToken);
  authenticate(b, async () => tokens.accessToken);
  const list = watch(a, "messages:list");
  await list.wait("value", (v) => v.length === 0);

  const id = await b.mutation("messages:send", { body: "from B" });
  assert.equal(typeof id, "string");
  await list.wait("value", (v) => bodies(v).includes("from B"));
  await httpClient(backend, tokens.accessToken).mutation("messages:send", { body: "over HTTP" });
  const seen = await list.wait("value", (v) => bodies(v).includes("over HTTP"));
  assert.deepEqual(bodies(seen.value), ["from B", "over HTTP"]);
  assert.equal(list.all("error").length, 0);

  // A signed-out client's mutation fails with the ConvexError's data, as over HTTP.
  const signedOut = connect();
  await assert.rejects(signedOut.mutation("messages:send", { body: "nobody" }), (error) => {
    assert.equal(error.data?.code, "NOT_AUTHENTICATED");
    return true;
  });
  // Sync calls are in the request log, marked as such; queries are not.
  const log = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.transport === "sync");
  assert.deepEqual(
    log.map((r) => [r.path, r.hasAuth, r.status]),
    [
      ["messages:send", true, 200],
      ["messages:send", false, 560],
    ],
  );
  await Promise.all([a, b, signedOut].map(disconnect));
});

test("setAuth with a signed-in user's access token: users:viewer is the user; clearAuth signs the socket out", async () => {
  const tokens = await anonymous(backend);
  const c = connect();
  const authEvents = authenticate(c, async () => tokens.accessToken);
  const viewer = watch(c, "users:viewer");
  await authEvents.wait("auth", (v) => v === true);
  const user = await viewer.wait("value", (v) => v !== null);
  assert.equal(user.value._id, tokens.userId);
  assert.equal(await c.query("users:viewer", {}).then((u) => u?._id), tokens.userId);
  assert.equal(await c.query("auth:isAuthenticated", {}), true);
  // The app has no public action; an ActionResponse with an error reaches the caller.
  await assert.rejects(c.action("auth:isAuthenticated", {}), /Could not find public function for 'auth:isAuthenticated'/);
  // A refresh over sync is in the request log as one, marked `transport: "sync"`.
  const rotated = await c.mutation("auth:refreshSession", { refreshToken: tokens.refreshToken });
  assert.equal(rotated.kind, "rotated");
  const log = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.transport === "sync");
  assert.deepEqual(
    log.map((r) => [r.path, r.kind, r.hasAuth, r.status]),
    [
      ["auth:isAuthenticated", null, true, 560],
      ["auth:refreshSession", "refresh", true, 200],
    ],
  );

  c.client.clearAuth();
  await viewer.wait("value", (v) => v === null, { since: user.index + 1 });
  assert.equal(await c.query("auth:isAuthenticated", {}), false);
  await disconnect(c);
});

/** Tokens refresh across expiries with the subscription alive and no server rejection. */
async function refreshesAcrossExpiries() {
  let current = await anonymous(backend);
  const issued = [current.accessToken];
  const c = connect({ authRefreshTokenLeewaySeconds: 2 });
  const authEvents = authenticate(c, async ({ forceRefreshToken }, recorder) => {
    if (forceRefreshToken) {
      current = await refreshed(current);
      issued.push(current.accessToken);
      recorder.push("issued", current.accessToken);
    }
    return current.accessToken;
  });
  const list = watch(c, "messages:list");
  await authEvents.wait("auth", (v) => v === true);
  // After each refresh a write must reach the subscription, until the first two JWTs expired.
  const outlive = () => Math.max(...issued.slice(0, 2).map((t) => claims(t).exp)) * 1000;
  for (let round = 0; round < 2 || Date.now() <= outlive(); round++) {
    await authEvents.wait("issued", () => true, { since: authEvents.length });
    await httpClient(backend, current.accessToken).mutation("messages:send", { body: `round ${round}` });
    await list.wait("value", (v) => bodies(v).includes(`round ${round}`));
  }
  assert.ok(issued.length >= 4, `${issued.length} tokens`);
  assert.equal(new Set(issued).size, issued.length, "every refresh gave a new JWT");
  assert.deepEqual(authEvents.all("refreshing", (v) => v === true), [], "the server never rejected a token");
  assert.deepEqual(authEvents.all("auth", (v) => v === false), []);
  assert.deepEqual(list.all("error"), []);
  const refreshes = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.kind === "refresh");
  assert.ok(refreshes.length >= issued.length - 1);
  await disconnect(c);
}

/** A token that expires on an open socket gets AuthError; the client refreshes and goes on. */
async function expiryOnOpenSocket() {
  let current = await anonymous(backend);
  const issued = [];
  // A negative leeway: the client's own refresh would come 10 s after the expiry, so the
  // server's expiry timer is what makes it fetch a new token.
  const c = connect({ authRefreshTokenLeewaySeconds: -10 });
  const authEvents = authenticate(c, async ({ forceRefreshToken }) => {
    if (forceRefreshToken) current = await refreshed(current);
    issued.push(current.accessToken);
    return current.accessToken;
  });
  const list = watch(c, "messages:list");
  await authEvents.wait("auth", (v) => v === true);
  const confirmed = await authEvents.wait("fetch", (a) => a.forceRefreshToken); // the client's first refetch
  const rejected = await authEvents.wait("refreshing", (v) => v === true, { since: confirmed.index });
  const exp = claims(issued.at(-1)).exp * 1000;
  assert.ok(rejected.at >= exp, `AuthError ${exp - rejected.at} ms before exp`);
  assert.ok(rejected.at < exp + 1000, `AuthError ${rejected.at - exp} ms after exp`);
  await authEvents.wait("fetch", (a) => a.forceRefreshToken, { since: rejected.index });
  await authEvents.wait("refreshing", (v) => v === false, { since: rejected.index });
  await httpClient(backend, current.accessToken).mutation("messages:send", { body: "after the expiry" });
  await list.wait("value", (v) => bodies(v).includes("after the expiry"));
  assert.deepEqual(authEvents.all("auth", (v) => v === false), []);
  await disconnect(c);
}

/** A valid access token presented after its `exp`: refused like a forged one. */
async function expiredTokenIsRefused() {
  const tokens = await anonymous(backend);
  // The backend's signing key is its own, so the only expired token is one that aged: wait for
  // its expiry time (this runs alongside the other expiry checks).
  const exp = claims(tokens.accessToken).exp * 1000;
  await new Promise((r) => setTimeout(r, exp - Date.now() + 20));
  await refusedToken("expired", tokens.accessToken);
}

/** A client whose fetchToken always answers `token`: AuthError, a forced fetch, onChange(false). */
async function refusedToken(name, token) {
  const c = connect();
  const authEvents = authenticate(c, async () => token);
  const viewer = watch(c, "users:viewer");
  await authEvents.wait("auth", (v) => v === false);
  assert.equal(authEvents.all("fetch", (a) => a.forceRefreshToken).length, 1, `${name}: one forced fetch`);
  assert.equal(authEvents.all("refreshing", (v) => v === true).length, 1, `${name}: a server rejection`);
  // The client goes on signed out.
  await viewer.wait("value", (v) => v === null);
  await disconnect(c);
}

// These wait for JWTs to expire, so they share the wait.
test("expiries: refreshes keep the subscription alive; expired tokens get AuthError, on an open socket too", async () => {
  await Promise.all([refreshesAcrossExpiries(), expiryOnOpenSocket(), expiredTokenIsRefused()]);
});

test("forged and untrusted-issuer tokens: AuthError, a forced fetch, then onChange(false)", async () => {
  const tokens = await anonymous(backend);
  const real = claims(tokens.accessToken);
  const { privateKey } = await jose.generateKeyPair("ES256");
  const sign = (payload) => new jose.SignJWT(payload).setProtectedHeader({ alg: "ES256" }).sign(privateKey);
  await refusedToken("forged", await sign(real));
  await refusedToken("untrusted", await sign({ ...real, iss: "https://issuer.invalid" }));
});

test("the protocol: versions, AuthError fields, FatalError on a bad base version, re-sent mutations", async () => {
  const tokens = await anonymous(backend);
  const sessionId = "00000000-0000-4000-8000-000000000002";
  const s = await rawSync(WebSocket, backend.url, "1.51.0");
  s.send({ type: "Connect", sessionId, connectionCount: 0, lastCloseReason: null, clientTs: Date.now() });
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "users:viewer", args: [{}] }] });
  const t1 = await s.next("Transition");
  assert.deepEqual(t1.startVersion, { querySet: 0, identity: 0, ts: ZERO_TS });
  assert.equal(t1.endVersion.querySet, 1);
  assert.equal(t1.endVersion.identity, 0);
  assert.deepEqual(t1.modifications, [{ type: "QueryUpdated", queryId: 0, value: null, logLines: [], journal: null }]);
  s.send({ type: "Authenticate", tokenType: "User", value: tokens.accessToken, baseVersion: 0 });
  const t2 = await s.next("Transition");
  assert.deepEqual(t2.startVersion, t1.endVersion);
  assert.equal(t2.endVersion.identity, 1);
  assert.equal(t2.modifications[0].value._id, tokens.userId);
  // A mutation: its ts, then a Transition reaching it.
  s.send({ type: "Mutation", requestId: 0, udfPath: "messages:send", args: [{ body: "once" }] });
  const m = await s.next("MutationResponse");
  assert.equal(m.success, true);
  await s.next("Transition", (t) => u64(t.endVersion.ts) >= u64(m.ts));
  // Removing the query: QueryRemoved.
  s.send({ type: "ModifyQuerySet", baseVersion: 1, newVersion: 2, modifications: [{ type: "Remove", queryId: 0 }] });
  const t4 = await s.next("Transition", (t) => t.endVersion.querySet === 2);
  assert.deepEqual(t4.modifications, [{ type: "QueryRemoved", queryId: 0 }]);

  // The same session re-sends request 0 on a new socket (a reconnect): not run again.
  const again = await rawSync(WebSocket, backend.url, "1.51.0");
  again.send({ type: "Connect", sessionId, connectionCount: 1, lastCloseReason: null, clientTs: Date.now() });
  again.send({ type: "Authenticate", tokenType: "User", value: tokens.accessToken, baseVersion: 0 });
  again.send({ type: "Mutation", requestId: 0, udfPath: "messages:send", args: [{ body: "once" }] });
  assert.deepEqual(await again.next("MutationResponse"), m);
  assert.deepEqual(bodies(await httpClient(backend, tokens.accessToken).query("messages:list", {})), ["once"]);

  // A refused token: AuthError with the last confirmed identity version, then the socket closes.
  s.send({ type: "Authenticate", tokenType: "User", value: "not.a.jwt", baseVersion: 1 });
  const error = await s.next("AuthError");
  assert.deepEqual(error, { type: "AuthError", error: error.error, baseVersion: 1, authUpdateAttempted: true });
  assert.equal((await s.closed()).code, 1005);

  // A query set change from the wrong base version is fatal.
  again.send({ type: "ModifyQuerySet", baseVersion: 5, newVersion: 6, modifications: [] });
  assert.match((await again.next("FatalError")).error, /BaseVersionMismatch/);
  await again.closed();
});

test("/_test/reset: open subscriptions re-run against the empty database", async () => {
  const tokens = await anonymous(backend);
  const c = connect();
  authenticate(c, async () => tokens.accessToken);
  const list = watch(c, "messages:list");
  await c.mutation("messages:send", { body: "before the reset" });
  await list.wait("value", (v) => v.length === 1);
  await reset(backend);
  await list.wait("value", (v) => v.length === 0);
  await disconnect(c);
});
