// Bearer verification, JWT lifetime and refresh-token reuse detection.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as jose from "jose";
import { claims, client, signIn, sleep, startBackend, testApi } from "./helpers.mjs";

let backend;
before(async () => {
  backend = await startBackend({ JWT_DURATION_MS: "3000" });
});
after(() => backend.stop());

const whoami = (token) =>
  fetch(`${backend.url}/whoami`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

test("JWT_DURATION_MS sets the JWT lifetime; the JWT is what PROTOCOL.md §6.1 describes", async () => {
  const { tokens } = await signIn(backend, "anonymous");
  const c = claims(tokens.token);
  assert.equal(c.exp - c.iat, 3);
  assert.equal(c.iss, backend.url);
  assert.equal(c.aud, "convex");
  assert.match(c.sub, /^[^|]+\|[^|]+$/);
  const response = await whoami(tokens.token);
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.deepEqual(body, { subject: c.sub, issuer: backend.url, tokenIdentifier: `${backend.url}|${c.sub}` });
});

test("a forged JWT is refused with 401 by the HTTP API and by /whoami", async () => {
  const { tokens } = await signIn(backend, "anonymous");
  const { privateKey } = await jose.generateKeyPair("RS256");
  const forged = await new jose.SignJWT(claims(tokens.token)).setProtectedHeader({ alg: "RS256" }).sign(privateKey);
  const api = await fetch(`${backend.url}/api/query`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${forged}` },
    body: JSON.stringify({ path: "users:viewer", args: {}, format: "json" }),
  });
  assert.equal(api.status, 401);
  assert.equal((await api.json()).code, "Unauthenticated");
  assert.equal((await whoami(forged)).status, 401);
  assert.equal((await whoami()).status, 401);
  const garbage = await testApi(backend, "GET", "/whoami");
  assert.equal(garbage.status, 401);
  await assert.rejects(client(backend, "not-a-jwt").query("users:viewer", {}), /InvalidAuthHeader/);
});

test("an expired JWT is refused with 401", async () => {
  const { tokens } = await signIn(backend, "anonymous");
  assert.ok(await client(backend, tokens.token).query("users:viewer", {}));
  await sleep(4100);
  await assert.rejects(client(backend, tokens.token).query("users:viewer", {}), /Could not verify OIDC token/);
  assert.equal((await whoami(tokens.token)).status, 401);
});

test("refresh tokens: same child for a lost answer, another within 10 s, none after", async () => {
  const { tokens: t0 } = await signIn(backend, "anonymous");
  const { tokens: t1 } = await signIn(backend, undefined, undefined, { refreshToken: t0.refreshToken });
  // t0 is the parent of the active token t1: reusing it returns t1 again (a lost response).
  const { tokens: again } = await signIn(backend, undefined, undefined, { refreshToken: t0.refreshToken });
  assert.equal(again.refreshToken, t1.refreshToken);
  const { tokens: t2 } = await signIn(backend, undefined, undefined, { refreshToken: t1.refreshToken });
  // t0 is no longer the parent of the active token but still inside the reuse window.
  const { tokens: inWindow } = await signIn(backend, undefined, undefined, { refreshToken: t0.refreshToken });
  assert.ok(inWindow.refreshToken);
  assert.notEqual(inWindow.refreshToken, t2.refreshToken);
  // Rotate that child too, so t0 is not the parent of the active token any more.
  await signIn(backend, undefined, undefined, { refreshToken: inWindow.refreshToken });
  await sleep(10_500);
  assert.deepEqual(await signIn(backend, undefined, undefined, { refreshToken: t0.refreshToken }), { tokens: null });
});
