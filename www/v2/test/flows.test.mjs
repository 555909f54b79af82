// Every v2 sign-in flow a Node process can drive, through the official ConvexHttpClient.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { ConvexError } from "convex/values";
import { softAuthenticator } from "./authenticator.mjs";
import {
  PASSWORD,
  anonymous,
  auth,
  claims,
  client,
  followRedirects,
  fresh,
  freshEmail,
  lastMessage,
  outbox,
  reset,
  signUpWithEmail,
  startBackend,
  testApi,
} from "./helpers.mjs";

let backend;
before(async () => {
  backend = await startBackend();
});
after(() => backend.stop());
beforeEach(() => reset(backend));

const viewer = (token) => client(backend, token).query("users:viewer", {});
const refresh = (refreshToken) => auth(backend, "refreshSession", { refreshToken });

test("the ready line names the backend, the site and the OAuth mock", () => {
  assert.match(backend.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(backend.siteUrl, "http://localhost:5173");
  assert.match(backend.idpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(backend.idpUrl, backend.url);
});

test("email + password: sign-up, the emailed link, completion, sign-in", async () => {
  const email = freshEmail("ada");
  const up = await auth(backend, "signUpWithEmailPassword", { email, password: PASSWORD });
  assert.equal(up.success, true);
  assert.match(up.browserSecret, /^[A-Za-z0-9_-]{20,}$/);

  const message = await lastMessage(backend, email);
  assert.equal(message.provider, "emailPassword");
  assert.equal(message.subject, "Validate your email address");
  const link = new URL(message.url);
  assert.equal(`${link.origin}${link.pathname}`, `${backend.siteUrl}/validate-email`);
  assert.equal(link.searchParams.get("code"), message.code);

  // No session before the link is opened.
  assert.deepEqual(await auth(backend, "signInWithEmailPassword", { email, password: PASSWORD }), {
    status: "error",
    userError: { error: "USER_NOT_FOUND" },
  });
  // The link works only with the secret of the browser that signed up.
  const wrongSecret = await auth(backend, "completeSignUpWithEmailPassword", {
    emailCode: message.code,
    browserSecret: "not-the-secret",
  });
  assert.equal(wrongSecret.status, "error");
  assert.equal(wrongSecret.userError.error, "INVALID_CHALLENGE");
  const wrongCode = await auth(backend, "completeSignUpWithEmailPassword", {
    emailCode: `${message.code.slice(0, -2)}xx`,
    browserSecret: up.browserSecret,
  });
  assert.deepEqual(wrongCode, { status: "error", userError: { error: "INCORRECT_CODE" } });

  const done = await auth(backend, "completeSignUpWithEmailPassword", {
    emailCode: message.code,
    browserSecret: up.browserSecret,
  });
  assert.equal(done.status, "complete");
  const { accessToken, refreshToken, refreshTokenExpiresAt, userId } = done.tokens;
  assert.match(refreshToken, /^[A-Za-z0-9_-]{43}$/);
  assert.ok(refreshTokenExpiresAt > Date.now() + 29 * 24 * 3600 * 1000);
  const user = await viewer(accessToken);
  assert.equal(user._id, userId);
  assert.equal(user.email, email);
  assert.equal(user.method, "emailPassword");
  // A link works once.
  const again = await auth(backend, "completeSignUpWithEmailPassword", {
    emailCode: message.code,
    browserSecret: up.browserSecret,
  });
  assert.deepEqual(again, { status: "error", userError: { error: "INVALID_CHALLENGE" } });

  const signIn = await auth(backend, "signInWithEmailPassword", { email, password: PASSWORD });
  assert.equal(signIn.status, "complete");
  assert.equal(signIn.tokens.userId, userId);
  assert.notEqual(claims(signIn.tokens.accessToken).sub, claims(accessToken).sub, "a new session");
  assert.deepEqual(await auth(backend, "signInWithEmailPassword", { email, password: "wrong password!!" }), {
    status: "error",
    userError: { error: "INVALID_CREDENTIALS" },
  });
  assert.deepEqual(await auth(backend, "signInWithEmailPassword", { email: freshEmail("nobody"), password: PASSWORD }), {
    status: "error",
    userError: { error: "USER_NOT_FOUND" },
  });
});

test("email + password: sign-up errors are values", async () => {
  const short = await auth(backend, "signUpWithEmailPassword", { email: freshEmail(), password: "short" });
  assert.equal(short.success, false);
  assert.equal(short.userError.error, "PASSWORD_TOO_SHORT");
  assert.equal(short.userError.minimumLength, 10);
  const badEmail = await auth(backend, "signUpWithEmailPassword", { email: "not an email", password: PASSWORD });
  assert.equal(badEmail.success, false);
  assert.match(badEmail.userError.error, /EMAIL/);
  const { email } = await signUpWithEmail(backend);
  const taken = await auth(backend, "signUpWithEmailPassword", { email, password: PASSWORD });
  assert.deepEqual(taken, { success: false, userError: { error: "EMAIL_TAKEN" } });
});

test("password recovery: link, check, completion revokes the other sessions", async () => {
  const { email, tokens: before } = await signUpWithEmail(backend);
  const started = await auth(backend, "startPasswordRecovery", { email });
  assert.equal(started.success, true);
  assert.equal(started.sentTo, email);
  const message = await lastMessage(backend, email);
  assert.equal(message.subject, "Reset your password");
  const link = new URL(message.url);
  assert.equal(`${link.origin}${link.pathname}`, `${backend.siteUrl}/reset-password`);

  const args = { emailCode: message.code, browserSecret: started.browserSecret };
  assert.deepEqual(await client(backend).query("auth:checkPasswordRecovery", args), { success: true });
  const weak = await auth(backend, "completePasswordRecovery", { ...args, newPassword: "short" });
  assert.equal(weak.userError.error, "PASSWORD_TOO_SHORT");
  const newPassword = "a brand new passphrase";
  const done = await auth(backend, "completePasswordRecovery", { ...args, newPassword });
  assert.equal(done.status, "complete");
  assert.equal(done.tokens.userId, before.userId);
  assert.equal((await viewer(done.tokens.accessToken)).email, email);

  // The session from before the recovery is revoked (seen by its next refresh).
  assert.deepEqual(await refresh(before.refreshToken), { kind: "noSession" });
  assert.equal(await client(backend, before.accessToken).query("auth:isAuthenticated", {}), false);
  assert.equal((await refresh(done.tokens.refreshToken)).kind, "rotated");
  // The link is spent; the old password no longer works, the new one does.
  assert.equal((await client(backend).query("auth:checkPasswordRecovery", args)).success, false);
  assert.equal((await auth(backend, "signInWithEmailPassword", { email, password: PASSWORD })).userError.error, "INVALID_CREDENTIALS");
  assert.equal((await auth(backend, "signInWithEmailPassword", { email, password: newPassword })).status, "complete");
  assert.equal((await lastMessage(backend, email)).subject, "Your password was changed");

  const unknown = await auth(backend, "startPasswordRecovery", { email: freshEmail("nobody") });
  assert.deepEqual(unknown, { success: false, userError: { error: "EMAIL_NOT_FOUND" } });
});

test("username + password: sign-up, sign-in, errors, rate limit per user", async () => {
  const username = fresh("grace");
  const up = await auth(backend, "signUpWithUsernamePassword", { username, password: PASSWORD });
  assert.equal(up.status, "complete");
  const user = await viewer(up.tokens.accessToken);
  assert.equal(user._id, up.tokens.userId);
  assert.equal(user.username, username);
  assert.equal(user.method, "usernamePassword");

  const taken = await auth(backend, "signUpWithUsernamePassword", { username, password: PASSWORD });
  assert.deepEqual(taken, { status: "error", userError: { error: "USERNAME_TAKEN" } });
  const signIn = await auth(backend, "signInWithUsernamePassword", { username, password: PASSWORD });
  assert.equal(signIn.tokens.userId, up.tokens.userId);
  assert.deepEqual(await auth(backend, "signInWithUsernamePassword", { username: fresh("nobody"), password: PASSWORD }), {
    status: "error",
    userError: { error: "USER_NOT_FOUND" },
  });
  // Five password checks, then one a minute (the sign-in above was one of them).
  const answers = [];
  for (let i = 0; i < 5; i++) {
    answers.push((await auth(backend, "signInWithUsernamePassword", { username, password: "wrong password!!" })).userError);
  }
  assert.deepEqual(answers.slice(0, 4).map((e) => e.error), Array(4).fill("INVALID_CREDENTIALS"));
  assert.equal(answers[4].error, "RATE_LIMITED");
  assert.ok(answers[4].retryAfterMs > 0 && answers[4].retryAfterMs <= 60_000);
});

test("anonymous", async () => {
  const tokens = await anonymous(backend);
  const user = await viewer(tokens.accessToken);
  assert.equal(user.isAnonymous, true);
  assert.equal(user._id, tokens.userId);
  const other = await anonymous(backend);
  assert.notEqual(other.userId, tokens.userId, "every anonymous sign-in is a new user");
});

test("GitHub through the local OAuth mock: start, provider, callback, completion", async () => {
  const who = { sub: fresh("gh"), email: "grace@example.com", name: "Grace Hopper" };
  assert.equal((await testApi(backend, "POST", "/_test/idp/user", who)).status, 200);
  const redirectTo = `${backend.siteUrl}/after?tab=2`;
  const started = await auth(backend, "startSignInWithGithub", { redirectTo });
  const authorize = new URL(started.redirect);
  assert.equal(authorize.origin, backend.idpUrl);
  assert.equal(authorize.pathname, "/login/oauth/authorize");
  assert.equal(authorize.searchParams.get("state"), started.state);
  assert.equal(authorize.searchParams.get("redirect_uri"), `${backend.url}/oauth/github/callback`);
  assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
  assert.equal(authorize.searchParams.get("scope"), "read:user user:email");

  const back = await followRedirects(started.redirect, backend.siteUrl);
  assert.equal(back.pathname, "/after");
  assert.equal(back.searchParams.get("tab"), "2");
  const code = back.searchParams.get("convexAuthCode");
  assert.ok(code);
  // The ticket is bound to the state of the browser that started.
  assert.deepEqual(await auth(backend, "completeSignInWithGithub", { code, state: "another-state" }), {
    status: "error",
    userError: { error: "INVALID_CODE" },
  });
  const done = await auth(backend, "completeSignInWithGithub", { code, state: started.state });
  assert.equal(done.status, "complete");
  const user = await viewer(done.tokens.accessToken);
  assert.equal(user.email, who.email);
  assert.equal(user.name, who.name);
  assert.equal(user.method, "github");
  // A ticket works once.
  assert.deepEqual(await auth(backend, "completeSignInWithGithub", { code, state: started.state }), {
    status: "error",
    userError: { error: "INVALID_CODE" },
  });

  // The same GitHub account signs in to the same user.
  const second = await auth(backend, "startSignInWithGithub", { redirectTo });
  const code2 = (await followRedirects(second.redirect, backend.siteUrl)).searchParams.get("convexAuthCode");
  const again = await auth(backend, "completeSignInWithGithub", { code: code2, state: second.state });
  assert.equal(again.tokens.userId, done.tokens.userId);

  // A redirect to an origin the app does not allow is refused.
  await assert.rejects(auth(backend, "startSignInWithGithub", { redirectTo: "https://evil.example/x" }), /allowedRedirectOrigins/);
});

test("GitHub: a callback with an error returns convexAuthError to the app", async () => {
  const redirectTo = `${backend.siteUrl}/after`;
  const started = await auth(backend, "startSignInWithGithub", { redirectTo });
  const callback = `${backend.url}/oauth/github/callback?error=access_denied&state=${started.state}`;
  const back = await followRedirects(callback, backend.siteUrl);
  assert.equal(back.searchParams.get("convexAuthError"), "access_denied");
  assert.equal(back.searchParams.get("convexAuthCode"), null);
});

test("passkeys: the start answers registration or authentication options", async () => {
  const username = fresh("pk");
  const start = await auth(backend, "startSignInWithUsernamePasskey", { username });
  assert.equal(start.success, true);
  assert.equal(start.step, "register");
  const { options } = start;
  assert.deepEqual(options.rp, { id: "localhost", name: "Convex Auth demo" });
  assert.equal(options.user.name, username);
  assert.match(options.challenge, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(options.attestation, "none");
  assert.equal(options.authenticatorSelection.residentKey, "required");
  assert.equal(options.authenticatorSelection.userVerification, "required");
  assert.ok(options.pubKeyCredParams.some((p) => p.alg === -7));
  assert.equal(options.timeout, 540000);

  const autofill = await auth(backend, "startAutofillSignInWithUsernamePasskey");
  assert.equal(autofill.options.rpId, "localhost");
  assert.deepEqual(autofill.options.allowCredentials, []);
  assert.equal(autofill.options.userVerification, "required");

  const bad = await auth(backend, "startSignInWithUsernamePasskey", { username: " padded " });
  assert.deepEqual(bad, { success: false, userError: { error: "USERNAME_HAS_SURROUNDING_WHITESPACE" } });
});

test("passkeys: sign-up, sign-in and autofill sign-in with a software authenticator", async () => {
  const authenticator = softAuthenticator();
  const username = fresh("passkey");
  const start = await auth(backend, "startSignInWithUsernamePasskey", { username });
  assert.equal(start.step, "register");
  const registration = authenticator.create(start.options, backend.siteUrl);
  // A ceremony run for another origin is refused without creating anything.
  const foreign = await auth(backend, "finishSignUpWithUsernamePasskey", {
    username,
    response: authenticator.create(start.options, "http://localhost:9999"),
  });
  assert.deepEqual(foreign, { status: "error", userError: { error: "PROTOCOL_ERROR" } });
  const up = await auth(backend, "finishSignUpWithUsernamePasskey", { username, response: registration });
  assert.equal(up.status, "complete");
  const user = await viewer(up.tokens.accessToken);
  assert.equal(user.username, username);
  assert.equal(user.method, "usernamePasskey");
  await auth(backend, "signOut", { refreshToken: up.tokens.refreshToken });

  // The username now has an account: the start asks for that account's passkey.
  const again = await auth(backend, "startSignInWithUsernamePasskey", { username });
  assert.equal(again.step, "authenticate");
  assert.equal(again.options.rpId, "localhost");
  assert.deepEqual(again.options.allowCredentials.map((c) => c.id), [registration.id]);
  const signIn = await auth(backend, "finishSignInWithUsernamePasskey", {
    response: authenticator.get(again.options, backend.siteUrl),
  });
  assert.equal(signIn.status, "complete");
  assert.equal(signIn.username, username);
  assert.equal(signIn.tokens.userId, up.tokens.userId);
  // A challenge is used once.
  const replay = await auth(backend, "finishSignInWithUsernamePasskey", {
    response: authenticator.get(again.options, backend.siteUrl),
  });
  assert.equal(replay.status, "error");

  const autofill = await auth(backend, "startAutofillSignInWithUsernamePasskey");
  const picked = await auth(backend, "finishSignInWithUsernamePasskey", {
    response: authenticator.get(autofill.options, backend.siteUrl),
  });
  assert.equal(picked.status, "complete");
  assert.equal(picked.tokens.userId, up.tokens.userId);
});

test("users:viewer, messages and /whoami with and without a token", async () => {
  const a = await anonymous(backend);
  const b = await anonymous(backend);
  assert.equal(await viewer(), null);
  await client(backend, a.accessToken).mutation("messages:send", { body: "hello from a" });
  assert.deepEqual((await client(backend, a.accessToken).query("messages:list", {})).map((m) => m.body), ["hello from a"]);
  assert.deepEqual(await client(backend, b.accessToken).query("messages:list", {}), []);
  assert.deepEqual(await client(backend).query("messages:list", {}), []);
  const error = await client(backend).mutation("messages:send", { body: "x" }).catch((e) => e);
  assert.ok(error instanceof ConvexError);
  assert.equal(error.data.code, "NOT_AUTHENTICATED");

  const whoami = await fetch(`${backend.url}/whoami`, { headers: { Authorization: `Bearer ${a.accessToken}` } });
  assert.equal(whoami.status, 200);
  const { sub, iss } = claims(a.accessToken);
  assert.deepEqual(await whoami.json(), { subject: sub, issuer: iss, tokenIdentifier: `${iss}|${sub}` });
  assert.equal((await fetch(`${backend.url}/whoami`)).status, 401);
});

test("the outbox lists each mail once, by recipient", async () => {
  const first = freshEmail("one");
  const second = freshEmail("two");
  await auth(backend, "signUpWithEmailPassword", { email: first, password: PASSWORD });
  await auth(backend, "signUpWithEmailPassword", { email: second, password: PASSWORD });
  assert.equal((await outbox(backend)).length, 2);
  assert.equal((await outbox(backend, first)).length, 1);
  for (const m of await outbox(backend)) {
    assert.deepEqual(Object.keys(m).sort(), ["code", "provider", "sentAt", "subject", "to", "url"]);
    assert.equal(typeof m.sentAt, "number");
  }
});
