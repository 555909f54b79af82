// Sessions on v2: rotation, the lost-response recovery, reuse detection, sign-out with the
// refresh token, isAuthenticated, and the access token itself (claims, lifetime, Bearer checks).
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { webcrypto } from "node:crypto";
import {
  anonymous,
  auth,
  claims,
  client,
  header,
  reset,
  sleep,
  startBackend,
  testApi,
} from "./helpers.mjs";

let backend;
before(async () => {
  backend = await startBackend({ JWT_DURATION_MS: "2000" });
});
after(() => backend.stop());
beforeEach(() => reset(backend));

const refresh = (refreshToken) => auth(backend, "refreshSession", { refreshToken });
const isAuthenticated = (token) => client(backend, token).query("auth:isAuthenticated", {});
const refreshRaw = (refreshToken) =>
  fetch(`${backend.url}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: "auth:refreshSession", args: { refreshToken }, format: "json" }),
  });

test("the access token: ES256 with a kid, aud convex-auth, sub the session, JWT_DURATION_MS lifetime", async () => {
  const tokens = await anonymous(backend);
  const h = header(tokens.accessToken);
  assert.equal(h.alg, "ES256");
  assert.ok(h.kid);
  const c = claims(tokens.accessToken);
  assert.equal(c.iss, `${backend.url}/components/auth`);
  assert.equal(c.aud, "convex-auth");
  assert.equal(c.exp - c.iat, 2);
  assert.ok(c.jti);
  assert.ok(!c.sub.includes("|"), "sub is the session id alone");
  assert.notEqual(c.sub, tokens.userId);
  // The deployment's JWKS holds the key.
  const jwks = (await testApi(backend, "GET", "/.well-known/jwks.json")).body;
  assert.deepEqual(jwks.keys.map((k) => [k.kid, k.alg, k.crv]), [[h.kid, "ES256", "P-256"]]);
});

test("refreshSession rotates: new refresh token, same session and user", async () => {
  const t0 = await anonymous(backend);
  const r1 = await refresh(t0.refreshToken);
  assert.equal(r1.kind, "rotated");
  assert.notEqual(r1.tokens.refreshToken, t0.refreshToken);
  assert.notEqual(r1.tokens.accessToken, t0.accessToken);
  assert.equal(r1.tokens.userId, t0.userId);
  assert.equal(claims(r1.tokens.accessToken).sub, claims(t0.accessToken).sub);
  assert.equal(typeof r1.tokens.refreshTokenExpiresAt, "number");
  const r2 = await refresh(r1.tokens.refreshToken);
  assert.equal(r2.kind, "rotated");
  assert.equal(await isAuthenticated(r2.tokens.accessToken), true);
  assert.deepEqual(await refresh("unknown-token-unknown-token-unknown-token-x"), { kind: "noSession" });
  // An unknown token changes nothing.
  assert.equal((await refresh(r2.tokens.refreshToken)).kind, "rotated");
});

test("a lost refresh answer is recovered by presenting the redeemed token again", async () => {
  const t0 = await anonymous(backend);
  await testApi(backend, "POST", "/_test/faults", { path: "auth:refreshSession", kind: "lost-response" });
  await assert.rejects(refreshRaw(t0.refreshToken), TypeError);
  // The server redeemed t0 and issued a child the client never saw; t0 still works.
  const retried = await refresh(t0.refreshToken);
  assert.equal(retried.kind, "rotated");
  const next = await refresh(retried.tokens.refreshToken);
  assert.equal(next.kind, "rotated");
  assert.equal(next.tokens.userId, t0.userId);
  const log = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.kind === "refresh");
  assert.deepEqual(log.map((r) => [r.status, r.fault]), [[null, "lost-response"], [200, null], [200, null]]);
});

test("reuse detection: a spent token revokes the whole session", async () => {
  const t0 = await anonymous(backend);
  const t1 = (await refresh(t0.refreshToken)).tokens;
  const t2 = (await refresh(t1.refreshToken)).tokens; // spends t0
  assert.equal(await isAuthenticated(t2.accessToken), true);
  assert.deepEqual(await refresh(t0.refreshToken), { kind: "noSession" });
  assert.deepEqual(await refresh(t2.refreshToken), { kind: "noSession" });
  assert.equal(await isAuthenticated(t2.accessToken), false);
  assert.equal(await client(backend, t2.accessToken).query("users:viewer", {}), null);
});

test("reuse detection: a dropped sibling revokes the session", async () => {
  const t0 = await anonymous(backend);
  const a = (await refresh(t0.refreshToken)).tokens;
  const b = (await refresh(t0.refreshToken)).tokens; // a second child of the redeemed t0
  assert.equal((await refresh(b.refreshToken)).kind, "rotated"); // redeeming b drops a
  assert.deepEqual(await refresh(a.refreshToken), { kind: "noSession" });
  assert.deepEqual(await refresh(b.refreshToken), { kind: "noSession" });
});

test("reuse detection: three unredeemed children older than 5 s revoke the session", async () => {
  const t0 = await anonymous(backend);
  for (let i = 0; i < 3; i++) assert.equal((await refresh(t0.refreshToken)).kind, "rotated");
  // Within the grace period a fourth child is still granted.
  assert.equal((await refresh(t0.refreshToken)).kind, "rotated");
  await sleep(5200);
  assert.deepEqual(await refresh(t0.refreshToken), { kind: "noSession" });
});

test("signOut takes the refresh token and ends the session; the JWT lives until exp", async () => {
  const t0 = await anonymous(backend);
  await client(backend, t0.accessToken).mutation("messages:send", { body: "before" });
  assert.equal(await auth(backend, "signOut", { refreshToken: t0.refreshToken }), null);
  assert.deepEqual(await refresh(t0.refreshToken), { kind: "noSession" });
  assert.equal(await isAuthenticated(t0.accessToken), false);
  assert.equal(await client(backend, t0.accessToken).query("users:viewer", {}), null);
  const error = await client(backend, t0.accessToken).mutation("messages:send", { body: "after" }).catch((e) => e);
  assert.equal(error.data?.code, "NOT_AUTHENTICATED");
  // The signature is still valid until exp: only the session is gone.
  assert.equal((await fetch(`${backend.url}/whoami`, { headers: { Authorization: `Bearer ${t0.accessToken}` } })).status, 200);
  // Idempotent, and any token of the session works.
  assert.equal(await auth(backend, "signOut", { refreshToken: t0.refreshToken }), null);
  // A v1-style call (JWT, no args) fails argument validation.
  await assert.rejects(client(backend, t0.accessToken).mutation("auth:signOut", {}), /refreshToken/);
});

test("isAuthenticated: false without a token, true with a live session", async () => {
  assert.equal(await client(backend).query("auth:isAuthenticated", {}), false);
  const t0 = await anonymous(backend);
  assert.equal(await isAuthenticated(t0.accessToken), true);
});

test("an expired access token is refused with 401; the refresh token still works", async () => {
  const t0 = await anonymous(backend);
  assert.ok(await client(backend, t0.accessToken).query("users:viewer", {}));
  await sleep(3100);
  await assert.rejects(client(backend, t0.accessToken).query("users:viewer", {}), /Could not verify OIDC token/);
  assert.equal((await fetch(`${backend.url}/whoami`, { headers: { Authorization: `Bearer ${t0.accessToken}` } })).status, 401);
  const next = await refresh(t0.refreshToken);
  assert.ok(await client(backend, next.tokens.accessToken).query("users:viewer", {}));
});

test("forged, foreign and malformed tokens are refused with 401", async () => {
  const t0 = await anonymous(backend);
  const c = claims(t0.accessToken);
  const { privateKey } = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const sign = async (payload, kid) => {
    const input = `${Buffer.from(JSON.stringify({ alg: "ES256", typ: "JWT", kid })).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    const signature = await webcrypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, Buffer.from(input));
    return `${input}.${Buffer.from(signature).toString("base64url")}`;
  };
  const query = (token) =>
    fetch(`${backend.url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ path: "users:viewer", args: {}, format: "json" }),
    });
  const forged = await query(await sign(c, header(t0.accessToken).kid));
  assert.equal(forged.status, 401);
  assert.equal((await forged.json()).code, "Unauthenticated");
  const foreign = await query(await sign({ ...c, aud: "convex" }, "k"));
  assert.equal(foreign.status, 401);
  assert.equal((await foreign.json()).code, "NoAuthProvider");
  await assert.rejects(client(backend, "not-a-jwt").query("users:viewer", {}), /InvalidAuthHeader/);
  // A reset makes a new signing key: old tokens are refused.
  await reset(backend);
  assert.equal((await query(t0.accessToken)).status, 401);
});
