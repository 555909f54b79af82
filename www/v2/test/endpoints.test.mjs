// The runner's contract: ready line and environment, the test-only endpoints, the request log
// with v2's kinds, every fault kind, CORS, Connection: close, the HTTP API's body forms.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import {
  PASSWORD,
  anonymous,
  auth,
  claims,
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
  backend = await startBackend({ SITE_URL: "http://localhost:4321/" });
});
after(() => backend.stop());
beforeEach(() => reset(backend));

const call = (kind, path, args, headers = {}) =>
  fetch(`${backend.url}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ path, args, format: "json" }),
  });
const requests = async () => (await testApi(backend, "GET", "/_test/requests")).body;
const fault = (f) => testApi(backend, "POST", "/_test/faults", f);

test("health names the urls; SITE_URL is where links and OAuth return; 2.0's default token lifetime", async () => {
  const { status, body } = await testApi(backend, "GET", "/_test/health");
  assert.equal(status, 200);
  assert.deepEqual(body, { ok: true, url: backend.url, siteUrl: "http://localhost:4321", idpUrl: backend.idpUrl });
  assert.equal(backend.siteUrl, "http://localhost:4321");
  const email = freshEmail();
  await auth(backend, "signUpWithEmailPassword", { email, password: PASSWORD });
  assert.ok((await lastMessage(backend, email)).url.startsWith("http://localhost:4321/validate-email?code="));
  await assert.rejects(
    auth(backend, "startSignInWithGithub", { redirectTo: "http://localhost:5173/" }),
    /not in allowedRedirectOrigins/,
  );
  const started = await auth(backend, "startSignInWithGithub", { redirectTo: "http://localhost:4321/" });
  assert.ok((await followRedirects(started.redirect, "http://localhost:4321/")).searchParams.get("convexAuthCode"));
  const c = claims((await anonymous(backend)).accessToken);
  assert.equal(c.exp - c.iat, 60);
});

test("outbox lists by recipient and empties; reset empties everything", async () => {
  const a = freshEmail("a");
  const b = freshEmail("b");
  await auth(backend, "signUpWithEmailPassword", { email: a, password: PASSWORD });
  await auth(backend, "signUpWithEmailPassword", { email: b, password: PASSWORD });
  assert.deepEqual((await outbox(backend)).map((m) => m.to), [a, b]);
  assert.deepEqual((await outbox(backend, a)).map((m) => m.to), [a]);
  assert.equal((await testApi(backend, "DELETE", "/_test/outbox")).status, 200);
  assert.deepEqual(await outbox(backend), []);

  const tokens = await anonymous(backend);
  await fault({ path: "x:y", kind: "network", count: 1 });
  await testApi(backend, "POST", "/_test/idp/user", { sub: "someone" });
  await auth(backend, "signUpWithEmailPassword", { email: a, password: PASSWORD });
  await reset(backend);
  assert.deepEqual(await requests(), []);
  assert.deepEqual((await testApi(backend, "GET", "/_test/faults")).body, { faults: [] });
  assert.deepEqual(await outbox(backend), []);
  assert.notEqual((await testApi(backend, "GET", "/_test/idp/user")).body.sub, "someone");
  // The database is empty: the old session is unknown, the address free again.
  assert.deepEqual(await auth(backend, "refreshSession", { refreshToken: tokens.refreshToken }), { kind: "noSession" });
  assert.equal((await auth(backend, "signUpWithEmailPassword", { email: a, password: PASSWORD })).success, true);
});

test("the OAuth identity can be read and set", async () => {
  const initial = (await testApi(backend, "GET", "/_test/idp/user")).body;
  assert.equal(typeof initial.sub, "string");
  const who = { sub: "u-1", email: "u1@example.com", name: "U One" };
  assert.deepEqual((await testApi(backend, "POST", "/_test/idp/user", who)).body, who);
  assert.deepEqual((await testApi(backend, "GET", "/_test/idp/user")).body, who);
  assert.equal((await testApi(backend, "POST", "/_test/idp/user", { email: "no sub" })).status, 400);
  assert.equal((await testApi(backend, "POST", "/_test/idp/user", { sub: "x", name: 3 })).status, 400);
});

test("the request log classifies v2's calls: signIn, code, refresh, signOut", async () => {
  const { tokens } = await signUpWithEmail(backend);
  const username = fresh("log");
  await auth(backend, "signUpWithUsernamePassword", { username, password: PASSWORD });
  await auth(backend, "signInAnonymously");
  const started = await auth(backend, "startSignInWithGithub", { redirectTo: `${backend.siteUrl}/` });
  const code = (await followRedirects(started.redirect, backend.siteUrl)).searchParams.get("convexAuthCode");
  await auth(backend, "completeSignInWithGithub", { code, state: started.state });
  await auth(backend, "startSignInWithUsernamePasskey", { username: fresh("pk") });
  const rotated = await auth(backend, "refreshSession", { refreshToken: tokens.refreshToken });
  await call("query", "auth:isAuthenticated", {}, { Authorization: `Bearer ${rotated.tokens.accessToken}` });
  await auth(backend, "signOut", { refreshToken: rotated.tokens.refreshToken });
  await fetch(`${backend.url}/whoami`);
  const log = await requests();
  assert.deepEqual(
    log.map(({ path, kind, provider, hasAuth, status, fault }) => [path, kind, provider, hasAuth, status, fault]),
    [
      ["auth:signUpWithEmailPassword", "signIn", "emailPassword", false, 200, null],
      ["auth:completeSignUpWithEmailPassword", "signIn", "emailPassword", false, 200, null],
      ["auth:signUpWithUsernamePassword", "signIn", "usernamePassword", false, 200, null],
      ["auth:signInAnonymously", "signIn", "anonymous", false, 200, null],
      ["auth:startSignInWithGithub", "signIn", "github", false, 200, null],
      ["/oauth/github/callback", null, null, false, 302, null],
      ["auth:completeSignInWithGithub", "code", "github", false, 200, null],
      ["auth:startSignInWithUsernamePasskey", "signIn", "usernamePasskey", false, 200, null],
      ["auth:refreshSession", "refresh", null, false, 200, null],
      ["auth:isAuthenticated", null, null, true, 200, null],
      ["auth:signOut", "signOut", null, false, 200, null],
      ["/whoami", null, null, false, 401, null],
    ],
  );
  for (const entry of log) assert.equal(typeof entry.at, "number");
});

test("fault: network resets the connection before the function runs", async () => {
  await fault({ path: "auth:signInAnonymously", kind: "network", count: 2 });
  assert.deepEqual((await testApi(backend, "GET", "/_test/faults")).body.faults, [
    { path: "auth:signInAnonymously", kind: "network", count: 2 },
  ]);
  await assert.rejects(call("mutation", "auth:signInAnonymously", {}), TypeError);
  await assert.rejects(call("mutation", "auth:signInAnonymously", {}), TypeError);
  const answer = await call("mutation", "auth:signInAnonymously", {});
  assert.equal(answer.status, 200);
  assert.equal((await answer.json()).value.status, "complete");
  const log = await requests();
  assert.deepEqual(log.map((r) => [r.kind, r.status, r.fault]), [["signIn", null, "network"], ["signIn", null, "network"], ["signIn", 200, null]]);
});

test("fault: lost-response commits, then resets the connection", async () => {
  const tokens = await anonymous(backend);
  await fault({ path: "messages:send", kind: "lost-response" });
  await assert.rejects(call("mutation", "messages:send", { body: "committed" }, { Authorization: `Bearer ${tokens.accessToken}` }), TypeError);
  const list = await call("query", "messages:list", {}, { Authorization: `Bearer ${tokens.accessToken}` });
  assert.deepEqual((await list.json()).value.map((m) => m.body), ["committed"]);
  // A sign-in whose answer was lost still created its user and session.
  await fault({ path: "auth:signUpWithUsernamePassword", kind: "lost-response" });
  const username = fresh("lost");
  await assert.rejects(call("mutation", "auth:signUpWithUsernamePassword", { username, password: PASSWORD }), TypeError);
  assert.equal((await auth(backend, "signInWithUsernamePassword", { username, password: PASSWORD })).status, "complete");
  assert.deepEqual((await requests()).filter((r) => r.fault).map((r) => [r.path, r.status, r.fault]), [
    ["messages:send", null, "lost-response"],
    ["auth:signUpWithUsernamePassword", null, "lost-response"],
  ]);
});

test("fault: status answers without running; delay waits, then runs; faults on HTTP routes", async () => {
  await fault({ path: "auth:refreshSession", kind: "status", status: 503, count: 1 });
  const tokens = await anonymous(backend);
  const refused = await call("mutation", "auth:refreshSession", { refreshToken: tokens.refreshToken });
  assert.equal(refused.status, 503);
  assert.equal((await refused.json()).code, "InjectedFault");
  await fault({ path: "/whoami", kind: "status", status: 502 });
  assert.equal((await fetch(`${backend.url}/whoami`)).status, 502);
  await fault({ path: "/oauth/github/callback", kind: "network" });
  await assert.rejects(fetch(`${backend.url}/oauth/github/callback?state=x`), TypeError);
  await fault({ path: "auth:refreshSession", kind: "delay", delayMs: 400 });
  const started = Date.now();
  const delayed = await call("mutation", "auth:refreshSession", { refreshToken: tokens.refreshToken });
  assert.ok(Date.now() - started >= 400);
  assert.equal((await delayed.json()).value.kind, "rotated", "the refused call did not run");
  const log = await requests();
  assert.deepEqual(log.map((r) => [r.path, r.status, r.fault]), [
    ["auth:signInAnonymously", 200, null],
    ["auth:refreshSession", 503, "status"],
    ["/whoami", 502, "status"],
    ["/oauth/github/callback", null, "network"],
    ["auth:refreshSession", 200, "delay"],
  ]);
  assert.equal((await fault({ path: "a:b", kind: "bogus" })).status, 400);
  assert.equal((await fault({ path: "a:b", kind: "status" })).status, 400);
  await fault({ path: "a:b", kind: "network" });
  await testApi(backend, "DELETE", "/_test/faults");
  assert.deepEqual((await testApi(backend, "GET", "/_test/faults")).body, { faults: [] });
});

test("CORS for pages on other origins, and no keep-alive", async () => {
  const preflight = await fetch(`${backend.url}/api/mutation`, {
    method: "OPTIONS",
    headers: {
      Origin: "http://localhost:5173",
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization, content-type",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "http://localhost:5173");
  assert.match(preflight.headers.get("access-control-allow-headers"), /Authorization/);
  const answer = await call("mutation", "auth:signInAnonymously", {}, { Origin: "http://localhost:5173" });
  assert.equal(answer.headers.get("access-control-allow-origin"), "http://localhost:5173");
  assert.equal(answer.headers.get("connection"), "close");
  const whoami = await fetch(`${backend.url}/whoami`, { method: "OPTIONS", headers: { Origin: "http://localhost:5173" } });
  assert.equal(whoami.status, 204);
  assert.equal(whoami.headers.get("access-control-allow-origin"), "http://localhost:5173");
});

test("the documented json format and /api/run work beside the client's encoded form", async () => {
  const json = await testApi(backend, "POST", "/api/mutation", { path: "auth:signInAnonymously", args: {}, format: "json" });
  assert.equal(json.status, 200);
  assert.equal(json.body.status, "success");
  assert.equal(json.body.value.status, "complete");
  const encoded = await testApi(backend, "POST", "/api/query", { path: "auth:isAuthenticated", args: [{}], format: "convex_encoded_json" });
  assert.deepEqual(encoded.body, { status: "success", value: false, logLines: [] });
  const run = await testApi(backend, "POST", "/api/run/users/viewer", { args: {}, format: "json" });
  assert.deepEqual(run.body, { status: "success", value: null, logLines: [] });
  // v1's action, internal functions and wrong kinds are not public functions here.
  for (const [kind, path] of [["action", "auth:signIn"], ["mutation", "users:createUser"], ["query", "auth:signInAnonymously"]]) {
    const missing = await testApi(backend, "POST", `/api/${kind}`, { path, args: {}, format: "json" });
    assert.equal(missing.status, 560);
    assert.match(missing.body.errorMessage, /Could not find public function/);
  }
  const invalid = await testApi(backend, "POST", "/api/mutation", { path: "auth:refreshSession", args: {}, format: "json" });
  assert.equal(invalid.status, 560);
  assert.match(invalid.body.errorMessage, /refreshToken/);
});

test("JWT_DURATION_MS must be 1000 ms to one hour; SIGTERM stops the runner cleanly", async () => {
  await assert.rejects(startBackend({ JWT_DURATION_MS: "500" }), /exited with 2/);
  await assert.rejects(startBackend({ JWT_DURATION_MS: "3600001" }), /exited with 2/);
  const short = await startBackend({ JWT_DURATION_MS: "1000" });
  const response = await fetch(`${short.url}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: "auth:signInAnonymously", args: {}, format: "json" }),
  });
  const c = claims((await response.json()).value.tokens.accessToken);
  assert.equal(c.exp - c.iat, 1);
  assert.equal(short.stdout().trim().split("\n").length, 1, "stdout carries the ready line only");
  assert.deepEqual(await short.stop(), { code: 0, signal: null });
});
