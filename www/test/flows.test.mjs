// Every provider flow of BACKEND.md through the official ConvexHttpClient.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { ConvexError } from "convex/values";
import { claims, client, followOAuth, lastMessage, reset, signIn, startBackend, testApi } from "./helpers.mjs";

let backend;
before(async () => {
  backend = await startBackend();
});
after(() => backend.stop());
beforeEach(() => reset(backend));

async function viewer(token) {
  return client(backend, token).query("users:viewer", {});
}

test("the ready line names the backend, the site and the OAuth mock", () => {
  assert.match(backend.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(backend.siteUrl, "http://localhost:5173");
  assert.match(backend.idpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test("password sign-up, sign-in, wrong password and unknown account", async () => {
  const up = await signIn(backend, "password", { email: "ada@example.com", password: "correct horse", flow: "signUp" });
  assert.ok(up.tokens.token && up.tokens.refreshToken);
  const user = await viewer(up.tokens.token);
  assert.equal(user.email, "ada@example.com");

  const again = await signIn(backend, "password", { email: "ada@example.com", password: "correct horse", flow: "signIn" });
  assert.equal(claims(again.tokens.token).sub.split("|")[0], user._id);

  await assert.rejects(
    signIn(backend, "password", { email: "ada@example.com", password: "wrong password", flow: "signIn" }),
    /InvalidSecret/,
  );
  await assert.rejects(
    signIn(backend, "password", { email: "nobody@example.com", password: "whatever1", flow: "signIn" }),
    /InvalidAccountId/,
  );
  await assert.rejects(
    signIn(backend, "password", { email: "short@example.com", password: "short", flow: "signUp" }),
    /Invalid password/,
  );
});

test("password reset by emailed code", async () => {
  const email = "reset@example.com";
  await signIn(backend, "password", { email, password: "old password", flow: "signUp" });
  const started = await signIn(backend, "password", { email, flow: "reset" });
  assert.equal(started.tokens, null);
  const message = await lastMessage(backend, email);
  assert.equal(message.provider, "password-reset");
  assert.match(message.code, /^\d{8}$/);
  await assert.rejects(
    signIn(backend, "password", { email, code: "00000000", newPassword: "new password", flow: "reset-verification" }),
    /Could not verify code/,
  );
  const done = await signIn(backend, "password", { email, code: message.code, newPassword: "new password", flow: "reset-verification" });
  assert.ok(done.tokens.token);
  await assert.rejects(signIn(backend, "password", { email, password: "old password", flow: "signIn" }), /InvalidSecret/);
  const fresh = await signIn(backend, "password", { email, password: "new password", flow: "signIn" });
  assert.ok(fresh.tokens.token);
});

test("sign-up with email verification", async () => {
  const email = "verify@example.com";
  const up = await signIn(backend, "password-verify", { email, password: "long enough", flow: "signUp" });
  assert.equal(up.tokens, null);
  const message = await lastMessage(backend, email);
  assert.equal(message.provider, "password-verify-code");
  // Unverified: signing in sends another code instead of tokens.
  const blocked = await signIn(backend, "password-verify", { email, password: "long enough", flow: "signIn" });
  assert.equal(blocked.tokens, null);
  const code = (await lastMessage(backend, email)).code;
  const verified = await signIn(backend, "password-verify", { email, code, flow: "email-verification" });
  assert.ok(verified.tokens.token);
  const user = await viewer(verified.tokens.token);
  assert.equal(typeof user.emailVerificationTime, "number");
  const later = await signIn(backend, "password-verify", { email, password: "long enough", flow: "signIn" });
  assert.ok(later.tokens.token);
});

test("email one-time code", async () => {
  const email = "otp@example.com";
  const started = await signIn(backend, "email-otp", { email });
  assert.deepEqual(started, { started: true });
  const { code, provider } = await lastMessage(backend, email);
  assert.equal(provider, "email-otp");
  await assert.rejects(signIn(backend, "email-otp", { email, code: "12345678" === code ? "87654321" : "12345678" }), /Could not verify code/);
  const done = await signIn(backend, "email-otp", { email, code });
  assert.ok(done.tokens.token);
  assert.equal((await viewer(done.tokens.token)).email, email);
});

test("magic link: the emailed link carries a code the page exchanges", async () => {
  const email = "link@example.com";
  assert.deepEqual(await signIn(backend, "magic-link", { email }), { started: true });
  const { url, code } = await lastMessage(backend, email);
  const link = new URL(url);
  assert.equal(link.origin, backend.siteUrl);
  assert.equal(link.searchParams.get("code"), code);
  const done = await signIn(backend, undefined, { code });
  assert.ok(done.tokens.token);
  assert.equal((await viewer(done.tokens.token)).email, email);
  // A code works once.
  assert.deepEqual(await signIn(backend, undefined, { code }), { tokens: null });
});

test("anonymous", async () => {
  const { tokens } = await signIn(backend, "anonymous");
  assert.equal((await viewer(tokens.token)).isAnonymous, true);
});

for (const provider of ["github", "mock-oidc"]) {
  test(`OAuth through the local mock: ${provider}`, async () => {
    const who = { sub: `${provider}-user-42`, email: `${provider}@example.com`, name: "Grace Hopper" };
    assert.equal((await testApi(backend, "POST", "/_test/idp/user", who)).status, 200);
    const started = await signIn(backend, provider, { redirectTo: "/after" });
    assert.ok(started.verifier);
    const redirect = new URL(started.redirect);
    assert.equal(redirect.origin, backend.url);
    assert.equal(redirect.pathname, `/api/auth/signin/${provider}`);
    const back = await followOAuth(started.redirect, backend.siteUrl);
    assert.equal(back.pathname, "/after");
    const code = back.searchParams.get("code");
    assert.match(code, /^\d{8}$/);
    // The code is bound to the verifier: without it the exchange fails.
    assert.deepEqual(await signIn(backend, undefined, { code }), { tokens: null });
    const done = await signIn(backend, undefined, { code }, { verifier: started.verifier });
    assert.ok(done.tokens.token);
    const user = await viewer(done.tokens.token);
    assert.equal(user.email, who.email);
    assert.equal(user.name, who.name);
  });
}

test("messages are per user; sending without a session is a ConvexError", async () => {
  const a = (await signIn(backend, "anonymous")).tokens.token;
  const b = (await signIn(backend, "anonymous")).tokens.token;
  await client(backend, a).mutation("messages:send", { body: "hello from a" });
  assert.deepEqual((await client(backend, a).query("messages:list", {})).map((m) => m.body), ["hello from a"]);
  assert.deepEqual(await client(backend, b).query("messages:list", {}), []);
  assert.deepEqual(await client(backend).query("messages:list", {}), []);
  const error = await client(backend).mutation("messages:send", { body: "x" }).catch((e) => e);
  assert.ok(error instanceof ConvexError);
  assert.equal(error.data.code, "NOT_AUTHENTICATED");
});

test("refresh rotates; signOut ends the session", async () => {
  const { tokens } = await signIn(backend, "anonymous");
  const next = await signIn(backend, undefined, undefined, { refreshToken: tokens.refreshToken });
  assert.notEqual(next.tokens.refreshToken, tokens.refreshToken);
  assert.equal(claims(next.tokens.token).sub, claims(tokens.token).sub);
  await client(backend, next.tokens.token).action("auth:signOut", {});
  assert.deepEqual(await signIn(backend, undefined, undefined, { refreshToken: next.tokens.refreshToken }), { tokens: null });
});

test("the documented json format and /api/run work beside the client's encoded form", async () => {
  const json = await testApi(backend, "POST", "/api/action", { path: "auth:signIn", args: { provider: "anonymous" }, format: "json" });
  assert.equal(json.status, 200);
  assert.equal(json.body.status, "success");
  const run = await testApi(backend, "POST", "/api/run/users/viewer", { args: {}, format: "json" });
  assert.deepEqual(run.body, { status: "success", value: null, logLines: [] });
  const missing = await testApi(backend, "POST", "/api/query", { path: "auth:store", args: {}, format: "json" });
  assert.equal(missing.body.status, "error");
  assert.match(missing.body.errorMessage, /Could not find public function/);
  const wrongKind = await testApi(backend, "POST", "/api/query", { path: "messages:send", args: { body: "x" }, format: "json" });
  assert.equal(wrongKind.body.status, "error");
});
