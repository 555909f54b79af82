// The identity-platform pieces (BACKEND.md, "Identity platform pieces"): platform JWTs of a
// second trusted issuer, users:store / users:current, and the Clerk webhook delivered by Svix.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, beforeEach, test } from "node:test";
import { Webhook } from "svix";
import { claims, client, reset, sleep, startBackend, testApi } from "./helpers.mjs";

// The test gives the backend its webhook secret, so that it can sign deliveries itself.
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const TTL_MS = 120_000;

let backend;
before(async () => {
  backend = await startBackend({ CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET, PLATFORM_TOKEN_TTL_MS: String(TTL_MS) });
});
after(() => backend.stop());
beforeEach(() => reset(backend));

async function platformToken(body) {
  const { status, body: answer } = await testApi(backend, "POST", "/_test/platform/token", body);
  assert.equal(status, 200, JSON.stringify(answer));
  return answer;
}

/** A raw call of the public HTTP API: {status, body}. */
async function call(kind, path, token) {
  const response = await fetch(`${backend.url}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ path, args: {}, format: "json" }),
  });
  return { status: response.status, body: await response.json() };
}

const whoami = (token) => fetch(`${backend.url}/whoami`, { headers: { Authorization: `Bearer ${token}` } });
const current = (token) => client(backend, token).query("users:current", {});
const store = (token) => client(backend, token).mutation("users:store", {});

/** Polls `probe` every 25 ms until it returns something other than null/undefined. */
async function until(probe, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(25);
  }
}

/** Posts a Clerk event to the webhook route as Svix would, with the given secret and time. */
function postSigned(event, { secret = WEBHOOK_SECRET, at = new Date(), id = `msg_${randomBytes(8).toString("hex")}` } = {}) {
  const payload = JSON.stringify(event);
  return fetch(`${backend.url}/clerk-users-webhook`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
      "svix-signature": new Webhook(secret).sign(id, at, payload),
    },
    body: payload,
  });
}

const clerkUser = (id, first, last) => ({
  id,
  object: "user",
  first_name: first,
  last_name: last,
  email_addresses: [{ id: `idn_${id}`, email_address: `${id}@example.com` }],
  primary_email_address_id: `idn_${id}`,
});

test("a platform token: the trusted issuer's claims, accepted by /whoami and the HTTP API", async () => {
  const minted = await platformToken({ sub: "user_ada", name: "Ada", email: "ada@example.com" });
  const c = claims(minted.token);
  assert.equal(minted.issuer, backend.idpUrl);
  assert.equal(c.iss, backend.idpUrl);
  assert.equal(c.aud, "convex");
  assert.equal(c.sub, "user_ada");
  assert.equal(c.name, "Ada");
  assert.equal(c.email, "ada@example.com");
  assert.equal(minted.exp, c.exp);
  assert.equal(minted.iat, c.iat);
  assert.equal(c.exp - c.iat, TTL_MS / 1000, "PLATFORM_TOKEN_TTL_MS is the default lifetime");
  assert.equal(JSON.parse(Buffer.from(minted.token.split(".")[0], "base64url")).alg, "RS256");

  const response = await whoami(minted.token);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    subject: "user_ada",
    issuer: backend.idpUrl,
    tokenIdentifier: `${backend.idpUrl}|user_ada`,
  });
  // Convex Auth's viewer has no user for another issuer's identity.
  assert.equal(await client(backend, minted.token).query("users:viewer", {}), null);
  const short = await platformToken({ sub: "x", ttlMs: 5000 });
  assert.equal(short.exp - short.iat, 5, "ttlMs overrides it");
});

test("users:store stores once per tokenIdentifier and follows the name; users:current", async () => {
  await assert.rejects(store(undefined), /Called storeUser without authentication present/);
  assert.equal(await current(undefined), null);

  const first = await platformToken({ sub: "user_ada", name: "Ada" });
  assert.equal(await current(first.token), null);
  const id = await store(first.token);
  assert.equal(await store(first.token), id, "a second call returns the same user");
  assert.deepEqual(
    (({ _id, name, tokenIdentifier }) => ({ _id, name, tokenIdentifier }))(await current(first.token)),
    { _id: id, name: "Ada", tokenIdentifier: `${backend.idpUrl}|user_ada` },
  );

  const renamed = await platformToken({ sub: "user_ada", name: "Ada Lovelace" });
  assert.equal(await store(renamed.token), id);
  assert.equal((await current(first.token)).name, "Ada Lovelace");
  const nameless = await platformToken({ sub: "user_ada" });
  assert.equal(await store(nameless.token), id);
  assert.equal((await current(nameless.token)).name, "Ada Lovelace", "a token without a name keeps it");

  const other = await platformToken({ sub: "user_bob" });
  const otherId = await store(other.token);
  assert.notEqual(otherId, id);
  assert.equal((await current(other.token)).name, "Anonymous");
});

test("a token of an untrusted issuer is refused with 401 NoAuthProvider", async () => {
  const minted = await platformToken({ sub: "user_ada", issuer: "untrusted" });
  assert.notEqual(minted.issuer, backend.idpUrl);
  assert.equal(claims(minted.token).iss, minted.issuer);
  assert.equal(claims(minted.token).aud, "convex");
  const { status, body } = await call("query", "users:current", minted.token);
  assert.equal(status, 401);
  assert.equal(body.code, "NoAuthProvider");
  assert.equal((await call("mutation", "users:store", minted.token)).body.code, "NoAuthProvider");
  assert.equal((await whoami(minted.token)).status, 401);
});

test("an expired platform token is refused with 401", async () => {
  const minted = await platformToken({ sub: "user_ada", ttlMs: 1000 });
  assert.equal(minted.exp - minted.iat, 1);
  assert.equal((await call("query", "users:current", minted.token)).status, 200);
  await sleep(Math.max(0, minted.exp * 1000 - Date.now()) + 50);
  const { status, body } = await call("query", "users:current", minted.token);
  assert.equal(status, 401);
  assert.equal(body.code, "Unauthenticated");
  assert.equal((await whoami(minted.token)).status, 401);
});

test("POST /_test/platform/token checks its body", async () => {
  for (const bad of [{}, { sub: "" }, { sub: 7 }, { sub: "x", name: 1 }, { sub: "x", ttlMs: 10 }, { sub: "x", ttlMs: 1500.5 },
    { sub: "x", issuer: "elsewhere" }, { sub: "x", iss: "typo" }, []]) {
    const { status, body } = await testApi(backend, "POST", "/_test/platform/token", bad);
    assert.equal(status, 400, JSON.stringify(bad));
    assert.equal(typeof body.error, "string");
  }
  const garbage = await fetch(`${backend.url}/_test/platform/token`, { method: "POST", body: "{not json" });
  assert.equal(garbage.status, 400);
});

test("webhook: user.created feeds users:current for the same subject; updated; deleted removes it", async () => {
  const token = (await platformToken({ sub: "user_grace" })).token;
  assert.equal(await current(token), null);

  const created = await testApi(backend, "POST", "/_test/webhook", {
    type: "user.created",
    data: clerkUser("user_grace", "Grace", "Hopper"),
  });
  assert.equal(created.status, 200);
  assert.equal(created.body.delivered, true);
  assert.equal(created.body.status, 200);
  assert.match(created.body.id, /^msg_/);
  const user = await current(token);
  assert.equal(user.externalId, "user_grace");
  assert.equal(user.name, "Grace Hopper");

  await testApi(backend, "POST", "/_test/webhook", { type: "user.updated", data: clerkUser("user_grace", "Grace", null) });
  const updated = await current(token);
  assert.equal(updated._id, user._id);
  assert.equal(updated.name, "Grace");

  // The user stored by users:store for this tokenIdentifier comes first.
  const storedId = await store(token);
  assert.notEqual(storedId, user._id);
  assert.equal((await current(token))._id, storedId);

  const deleted = await testApi(backend, "POST", "/_test/webhook", {
    type: "user.deleted",
    data: { id: "user_grace", object: "user", deleted: true },
  });
  assert.equal(deleted.body.status, 200);
  assert.equal((await current(token))._id, storedId, "the webhook-fed user is gone, the stored one stays");

  const other = (await platformToken({ sub: "user_kay" })).token;
  await testApi(backend, "POST", "/_test/webhook", { type: "user.created", data: clerkUser("user_kay", "Kay", "Ell") });
  assert.equal((await current(other)).name, "Kay Ell");
  await testApi(backend, "POST", "/_test/webhook", { type: "user.deleted", data: { id: "user_kay", deleted: true } });
  assert.equal(await current(other), null);

  // Other event types are acknowledged and ignored.
  assert.equal((await testApi(backend, "POST", "/_test/webhook", { type: "session.created", data: { id: "sess_1" } })).body.status, 200);
  const log = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.path === "/clerk-users-webhook");
  assert.deepEqual(log.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
});

test("webhook: a delayed delivery lands later; /_test/reset drops pending ones", async () => {
  const token = (await platformToken({ sub: "user_late" })).token;
  const started = Date.now();
  const scheduled = await testApi(backend, "POST", "/_test/webhook", {
    type: "user.created",
    data: clerkUser("user_late", "Late", "Comer"),
    delayMs: 500,
  });
  assert.equal(scheduled.status, 200);
  assert.equal(scheduled.body.delivered, false);
  assert.equal(scheduled.body.status, null);
  assert.ok(Date.now() - started < 500, "answered before the delivery");
  assert.equal(await current(token), null);
  const user = await until(() => current(token));
  assert.ok(Date.now() - started >= 500);
  assert.equal(user.name, "Late Comer");

  // A pending delivery dropped by a reset never arrives: one scheduled after it, due later,
  // arrives alone.
  await testApi(backend, "POST", "/_test/webhook", { type: "user.created", data: clerkUser("user_dropped", "D", "D"), delayMs: 150 });
  await reset(backend);
  await testApi(backend, "POST", "/_test/webhook", { type: "user.created", data: clerkUser("user_kept", "K", "K"), delayMs: 400 });
  const kept = (await platformToken({ sub: "user_kept" })).token;
  await until(() => current(kept));
  assert.equal(await current((await platformToken({ sub: "user_dropped" })).token), null);
  const log = (await testApi(backend, "GET", "/_test/requests")).body.filter((r) => r.path === "/clerk-users-webhook");
  assert.equal(log.length, 1);
});

test("POST /_test/webhook checks its body", async () => {
  for (const bad of [{}, { type: "user.created" }, { type: "", data: {} }, { type: "user.created", data: [] },
    { type: "user.created", data: {}, delayMs: -1 }, { type: "user.created", data: {}, delay: 5 }]) {
    const { status, body } = await testApi(backend, "POST", "/_test/webhook", bad);
    assert.equal(status, 400, JSON.stringify(bad));
    assert.equal(typeof body.error, "string");
  }
});

test("webhook: a forged signature is refused with 400 and writes nothing", async () => {
  const token = (await platformToken({ sub: "user_mallory" })).token;
  const event = { type: "user.created", data: clerkUser("user_mallory", "Mal", "Lory"), object: "event" };
  const forged = await postSigned(event, { secret: `whsec_${randomBytes(24).toString("base64")}` });
  assert.equal(forged.status, 400);
  const unsigned = await fetch(`${backend.url}/clerk-users-webhook`, { method: "POST", body: JSON.stringify(event) });
  assert.equal(unsigned.status, 400);
  // The right signature of another payload.
  const id = "msg_tampered";
  const at = new Date();
  const tampered = await fetch(`${backend.url}/clerk-users-webhook`, {
    method: "POST",
    headers: {
      "svix-id": id,
      "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
      "svix-signature": new Webhook(WEBHOOK_SECRET).sign(id, at, JSON.stringify({ ...event, type: "user.updated" })),
    },
    body: JSON.stringify(event),
  });
  assert.equal(tampered.status, 400);
  assert.equal(await current(token), null);
  // The same event, signed with the endpoint's secret, is accepted.
  assert.equal((await postSigned(event)).status, 200);
  assert.equal((await current(token)).name, "Mal Lory");
});

test("webhook: a replayed delivery (older than Svix's 5-minute tolerance) is refused with 400", async () => {
  const token = (await platformToken({ sub: "user_replay" })).token;
  const event = { type: "user.created", data: clerkUser("user_replay", "Re", "Play"), object: "event" };
  const replayed = await postSigned(event, { at: new Date(Date.now() - 6 * 60 * 1000) });
  assert.equal(replayed.status, 400);
  assert.equal(await current(token), null);
  const early = await postSigned(event, { at: new Date(Date.now() + 6 * 60 * 1000) });
  assert.equal(early.status, 400);
  assert.equal(await current(token), null);
});

test("the OAuth mock's OIDC code flow for client convex gives an id_token the backend accepts; refresh keeps the user", async () => {
  const who = { sub: "oidc-user-1", email: "oidc@example.com", name: "Oidc User" };
  await testApi(backend, "POST", "/_test/idp/user", who);
  const discovery = await (await fetch(`${backend.idpUrl}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.issuer, backend.idpUrl);
  assert.ok(discovery.code_challenge_methods_supported.includes("S256"));

  const redirectUri = "http://localhost:5173/callback";
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const authorize = new URL(discovery.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: "convex",
    redirect_uri: redirectUri,
    scope: "openid profile email offline_access",
    state: "state-1",
    nonce: "nonce-1",
    code_challenge: challenge,
    code_challenge_method: "S256",
  })) {
    authorize.searchParams.set(k, v);
  }
  const redirect = await fetch(authorize, { redirect: "manual" });
  assert.equal(redirect.status, 302);
  const back = new URL(redirect.headers.get("location"));
  assert.equal(`${back.origin}${back.pathname}`, redirectUri);
  assert.equal(back.searchParams.get("state"), "state-1");
  const code = back.searchParams.get("code");
  assert.ok(code);

  const tokenRequest = (form) =>
    fetch(discovery.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
    });
  const exchanged = await tokenRequest({
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    client_id: "convex",
    code_verifier: verifier,
  });
  assert.equal(exchanged.status, 200);
  const tokens = await exchanged.json();
  assert.equal(tokens.expires_in, TTL_MS / 1000);
  const idClaims = claims(tokens.id_token);
  assert.equal(idClaims.aud, "convex");
  assert.equal(idClaims.iss, backend.idpUrl);
  assert.equal(idClaims.sub, who.sub);
  assert.equal(idClaims.nonce, "nonce-1");
  assert.equal(idClaims.name, who.name);
  assert.equal(idClaims.exp - idClaims.iat, TTL_MS / 1000);

  const response = await whoami(tokens.id_token);
  assert.equal(response.status, 200);
  assert.equal((await response.json()).tokenIdentifier, `${backend.idpUrl}|${who.sub}`);
  const id = await store(tokens.id_token);
  assert.equal((await current(tokens.id_token))._id, id);
  assert.equal((await current(tokens.id_token)).name, who.name);

  // The refresh_token grant: a new id_token for the same user, even after the mock's next
  // login identity changed.
  await testApi(backend, "POST", "/_test/idp/user", { sub: "someone-else" });
  await sleep(Math.max(0, (idClaims.iat + 1) * 1000 - Date.now()));
  const refreshed = await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: "convex" });
  assert.equal(refreshed.status, 200);
  const next = await refreshed.json();
  assert.notEqual(next.id_token, tokens.id_token);
  assert.notEqual(next.refresh_token, tokens.refresh_token);
  const nextClaims = claims(next.id_token);
  assert.equal(nextClaims.sub, who.sub);
  assert.equal(nextClaims.aud, "convex");
  assert.ok(nextClaims.iat > idClaims.iat);
  assert.equal((await current(next.id_token))._id, id);

  // A verifier that does not match the challenge gets no tokens.
  const again = new URL(authorize);
  const second = new URL((await fetch(again, { redirect: "manual" })).headers.get("location")).searchParams.get("code");
  const mismatch = await tokenRequest({
    grant_type: "authorization_code",
    code: second,
    redirect_uri: redirectUri,
    client_id: "convex",
    code_verifier: randomBytes(32).toString("base64url"),
  });
  assert.equal(mismatch.status, 400);
  assert.equal((await mismatch.json()).error, "invalid_request");
});
