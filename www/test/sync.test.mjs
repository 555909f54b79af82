// The WebSocket sync endpoint (/api/<version>/sync) with the official `ConvexClient` of convex
// 1.48: live queries across clients, auth over sync, refreshes across expiries, auth errors.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { ConvexClient } from "convex/browser";
import * as jose from "jose";
import WebSocket from "ws";
import { client as httpClient, reset, signIn, startBackend, testApi } from "./helpers.mjs";
import { Recorder, ZERO_TS, claims, rawSync, u64 } from "./sync-helpers.mjs";

// The shortest lifetime the official client schedules refreshes for is 3 s (exp - iat > 2).
const JWT_MS = 3000;
let backend;
let keys; // the backend's signing key, so that a test can mint an expired JWT the backend trusts
const clients = new Set();

before(async () => {
  const pair = await jose.generateKeyPair("RS256", { extractable: true });
  const jwk = await jose.exportJWK(pair.publicKey);
  keys = { privateKey: pair.privateKey };
  backend = await startBackend({
    JWT_DURATION_MS: String(JWT_MS),
    JWT_PRIVATE_KEY: await jose.exportPKCS8(pair.privateKey),
    JWKS: JSON.stringify({ keys: [{ use: "sig", ...jwk }] }),
  });
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
const anonymous = async () => (await signIn(backend, "anonymous")).tokens;

/** Rotates the session's tokens; a JWT minted in the same second as `previous` is byte-identical
 *  (second-resolution iat/exp, TOOLCHAIN.md), so rotate again from the next second then. */
async function refreshed(previous) {
  let next = (await signIn(backend, undefined, undefined, { refreshToken: previous.refreshToken })).tokens;
  if (next.token === previous.token) {
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    next = (await signIn(backend, undefined, undefined, { refreshToken: next.refreshToken })).tokens;
  }
  return next;
}

test("a subscription sees other clients' mutations live, over sync and over HTTP", async () => {
  const tokens = await anonymous();
  const a = connect();
  const b = connect();
  authenticate(a, async () => tokens.token);
  authenticate(b, async () => tokens.token);
  const list = watch(a, "messages:list");
  await list.wait("value", (v) => v.length === 0);

  const id = await b.mutation("messages:send", { body: "from B" });
  assert.match(id, /messages$/);
  await list.wait("value", (v) => bodies(v).includes("from B"));
  await httpClient(backend, tokens.token).mutation("messages:send", { body: "over HTTP" });
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

test("setAuth with a signed-in user's JWT: users:viewer is the user; clearAuth signs the socket out", async () => {
  const tokens = await anonymous();
  const [userId] = claims(tokens.token).sub.split("|");
  const c = connect();
  const auth = authenticate(c, async () => tokens.token);
  const viewer = watch(c, "users:viewer");
  await auth.wait("auth", (v) => v === true);
  const user = await viewer.wait("value", (v) => v !== null);
  assert.equal(user.value._id, userId);
  assert.equal(user.value.isAnonymous, true);
  assert.equal(await c.query("users:viewer", {}).then((u) => u?._id), userId);
  // An action over sync: a sign-in, in the request log as one, marked `transport: "sync"`.
  const other = await c.action("auth:signIn", { provider: "anonymous" });
  assert.ok(other.tokens.token && other.tokens.token !== tokens.token);
  const log = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.transport === "sync");
  assert.deepEqual(
    log.map((r) => [r.path, r.kind, r.provider, r.hasAuth, r.status]),
    [["auth:signIn", "signIn", "anonymous", true, 200]],
  );

  c.client.clearAuth();
  await viewer.wait("value", (v) => v === null, { since: user.index + 1 });
  await disconnect(c);
});

/** Tokens refresh across expiries with the subscription alive and no server rejection. */
async function refreshesAcrossExpiries() {
  let current = await anonymous();
  const issued = [current.token];
  const c = connect({ authRefreshTokenLeewaySeconds: 2 });
  const auth = authenticate(c, async ({ forceRefreshToken }, recorder) => {
    if (forceRefreshToken) {
      current = await refreshed(current);
      issued.push(current.token);
      recorder.push("issued", current.token);
    }
    return current.token;
  });
  const list = watch(c, "messages:list");
  await auth.wait("auth", (v) => v === true);
  // After each refresh a write must reach the subscription, until the first two JWTs expired.
  const outlive = () => Math.max(...issued.slice(0, 2).map((t) => claims(t).exp)) * 1000;
  let round = 0;
  for (; round < 2 || Date.now() <= outlive(); round++) {
    await auth.wait("issued", () => true, { since: auth.length });
    await httpClient(backend, current.token).mutation("messages:send", { body: `round ${round}` });
    await list.wait("value", (v) => bodies(v).includes(`round ${round}`));
  }
  assert.ok(issued.length >= 4, `${issued.length} tokens`);
  assert.equal(new Set(issued).size, issued.length, "every refresh gave a new JWT");
  assert.deepEqual(auth.all("refreshing", (v) => v === true), [], "the server never rejected a token");
  assert.deepEqual(auth.all("auth", (v) => v === false), []);
  assert.deepEqual(list.all("error"), []);
  const refreshes = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.kind === "refresh");
  assert.ok(refreshes.length >= issued.length - 1);
  await disconnect(c);
}

/** A token that expires on an open socket gets AuthError; the client refreshes and goes on. */
async function expiryOnOpenSocket() {
  let current = await anonymous();
  const issued = [];
  // A negative leeway: the client's own refresh would come 10 s after the expiry, so the
  // server's expiry timer is what makes it fetch a new token.
  const c = connect({ authRefreshTokenLeewaySeconds: -10 });
  const auth = authenticate(c, async ({ forceRefreshToken }) => {
    if (forceRefreshToken) current = await refreshed(current);
    issued.push({ token: current.token, at: Date.now() });
    return current.token;
  });
  const list = watch(c, "messages:list");
  await auth.wait("auth", (v) => v === true);
  const confirmed = await auth.wait("fetch", (a) => a.forceRefreshToken); // the client's first refetch
  const rejected = await auth.wait("refreshing", (v) => v === true, { since: confirmed.index });
  const expiredToken = issued.at(-1).token;
  const exp = claims(expiredToken).exp * 1000;
  assert.ok(rejected.at >= exp, `AuthError ${exp - rejected.at} ms before exp`);
  assert.ok(rejected.at < exp + 1000, `AuthError ${rejected.at - exp} ms after exp`);
  await auth.wait("fetch", (a) => a.forceRefreshToken, { since: rejected.index });
  await auth.wait("refreshing", (v) => v === false, { since: rejected.index });
  await httpClient(backend, current.token).mutation("messages:send", { body: "after the expiry" });
  await list.wait("value", (v) => bodies(v).includes("after the expiry"));
  assert.deepEqual(auth.all("auth", (v) => v === false), []);
  await disconnect(c);
}

// Both wait for JWTs to expire, so they share the wait.
test("expiries: refreshes keep the subscription alive; an expired token on an open socket gets AuthError", async () => {
  await Promise.all([refreshesAcrossExpiries(), expiryOnOpenSocket()]);
});

test("forged, expired and untrusted-issuer tokens: AuthError, a forced fetch, then onChange(false)", async () => {
  const tokens = await anonymous();
  const real = claims(tokens.token);
  const { privateKey: otherKey } = await jose.generateKeyPair("RS256");
  const now = Math.floor(Date.now() / 1000);
  const sign = (payload, key) => new jose.SignJWT(payload).setProtectedHeader({ alg: "RS256" }).sign(key);
  const cases = {
    forged: await sign(real, otherKey),
    expired: await sign({ ...real, iat: now - 120, exp: now - 60 }, keys.privateKey),
    untrusted: await sign({ ...real, iss: "https://issuer.invalid" }, keys.privateKey),
  };
  for (const [name, token] of Object.entries(cases)) {
    const c = connect();
    const auth = authenticate(c, async () => token);
    const viewer = watch(c, "users:viewer");
    await auth.wait("auth", (v) => v === false);
    assert.equal(auth.all("fetch", (a) => a.forceRefreshToken).length, 1, `${name}: one forced fetch`);
    assert.equal(auth.all("refreshing", (v) => v === true).length, 1, `${name}: a server rejection`);
    // The client goes on signed out.
    await viewer.wait("value", (v) => v === null);
    await disconnect(c);
  }
});

test("the protocol: versions, AuthError fields, FatalError on a bad base version, re-sent mutations", async () => {
  const tokens = await anonymous();
  const s = await rawSync(WebSocket, backend.url);
  s.send({ type: "Connect", sessionId: "00000000-0000-4000-8000-000000000001", connectionCount: 0, lastCloseReason: null, clientTs: Date.now() });
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "users:viewer", args: [{}] }] });
  const t1 = await s.next("Transition");
  assert.deepEqual(t1.startVersion, { querySet: 0, identity: 0, ts: ZERO_TS });
  assert.equal(t1.endVersion.querySet, 1);
  assert.equal(t1.endVersion.identity, 0);
  assert.deepEqual(t1.modifications, [{ type: "QueryUpdated", queryId: 0, value: null, logLines: [], journal: null }]);
  s.send({ type: "Authenticate", tokenType: "User", value: tokens.token, baseVersion: 0 });
  const t2 = await s.next("Transition");
  assert.deepEqual(t2.startVersion, t1.endVersion);
  assert.equal(t2.endVersion.identity, 1);
  assert.equal(t2.modifications[0].value._id, claims(tokens.token).sub.split("|")[0]);
  // A mutation: its ts, then a Transition reaching it.
  s.send({ type: "Mutation", requestId: 0, udfPath: "messages:send", args: [{ body: "once" }] });
  const m = await s.next("MutationResponse");
  assert.equal(m.success, true);
  const t3 = await s.next("Transition", (t) => u64(t.endVersion.ts) >= u64(m.ts));
  assert.ok(u64(t3.startVersion.ts) <= u64(t3.endVersion.ts));

  // The same session re-sends request 0 on a new socket (a reconnect): not run again.
  const again = await rawSync(WebSocket, backend.url);
  again.send({ type: "Connect", sessionId: "00000000-0000-4000-8000-000000000001", connectionCount: 1, lastCloseReason: null, clientTs: Date.now() });
  again.send({ type: "Authenticate", tokenType: "User", value: tokens.token, baseVersion: 0 });
  again.send({ type: "Mutation", requestId: 0, udfPath: "messages:send", args: [{ body: "once" }] });
  const repeated = await again.next("MutationResponse");
  assert.deepEqual(repeated, m);
  assert.deepEqual(bodies(await httpClient(backend, tokens.token).query("messages:list", {})), ["once"]);

  // A refused token: AuthError with the last confirmed identity version, then the socket closes.
  s.send({ type: "Authenticate", tokenType: "User", value: "not.a.jwt", baseVersion: 1 });
  const error = await s.next("AuthError");
  assert.deepEqual(error, { type: "AuthError", error: error.error, baseVersion: 1, authUpdateAttempted: true });
  assert.equal((await s.closed()).code, 1005);

  // A query set change from the wrong base version is fatal.
  again.send({ type: "ModifyQuerySet", baseVersion: 5, newVersion: 6, modifications: [] });
  assert.match((await again.next("FatalError")).error, /BaseVersionMismatch/);
  await again.closed();

  // Only /api/<version>/sync upgrades.
  await assert.rejects(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${backend.url.replace(/^http/, "ws")}/api/1.48.0/elsewhere`);
      ws.once("open", resolve).once("error", reject);
    }),
    /404/,
  );
});

test("/_test/reset: open subscriptions re-run against the empty database", async () => {
  const tokens = await anonymous();
  const c = connect();
  authenticate(c, async () => tokens.token);
  const list = watch(c, "messages:list");
  await c.mutation("messages:send", { body: "before the reset" });
  await list.wait("value", (v) => v.length === 1);
  await reset(backend);
  await list.wait("value", (v) => v.length === 0);
  await disconnect(c);
});
