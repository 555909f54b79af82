// The test-only endpoints, every fault kind, CORS and Connection: close.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { lastMessage, reset, signIn, startBackend, testApi } from "./helpers.mjs";

let backend;
before(async () => {
  backend = await startBackend({ SITE_URL: "http://localhost:4321" });
});
after(() => backend.stop());
beforeEach(() => reset(backend));

const action = (path, args, headers = {}) =>
  fetch(`${backend.url}/api/action`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ path, args, format: "json" }),
  });
const mutation = (path, args, token) =>
  fetch(`${backend.url}/api/mutation`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ path, args, format: "json" }),
  });
const requests = async () => (await testApi(backend, "GET", "/_test/requests")).body;

test("health names the urls; SITE_URL is honoured", async () => {
  const { status, body } = await testApi(backend, "GET", "/_test/health");
  assert.equal(status, 200);
  assert.deepEqual(body, { ok: true, url: backend.url, siteUrl: "http://localhost:4321", idpUrl: backend.idpUrl });
  await signIn(backend, "magic-link", { email: "m@example.com" });
  assert.ok((await lastMessage(backend, "m@example.com")).url.startsWith("http://localhost:4321/?code="));
});

test("outbox lists by recipient and empties; reset empties everything", async () => {
  await signIn(backend, "email-otp", { email: "a@example.com" });
  await signIn(backend, "email-otp", { email: "b@example.com" });
  const all = (await testApi(backend, "GET", "/_test/outbox")).body.messages;
  assert.equal(all.length, 2);
  for (const m of all) {
    assert.deepEqual(Object.keys(m).sort(), ["code", "provider", "sentAt", "to", "url"]);
  }
  assert.equal((await testApi(backend, "GET", "/_test/outbox?to=a%40example.com")).body.messages.length, 1);
  await testApi(backend, "DELETE", "/_test/outbox");
  assert.deepEqual((await testApi(backend, "GET", "/_test/outbox")).body, { messages: [] });

  const { tokens } = await signIn(backend, "anonymous");
  await testApi(backend, "POST", "/_test/faults", { path: "x:y", kind: "network", count: 1 });
  await reset(backend);
  assert.deepEqual(await requests(), []);
  assert.deepEqual((await testApi(backend, "GET", "/_test/faults")).body, { faults: [] });
  assert.deepEqual(await signIn(backend, undefined, undefined, { refreshToken: tokens.refreshToken }), { tokens: null });
});

test("the OAuth identity can be read and set", async () => {
  const initial = (await testApi(backend, "GET", "/_test/idp/user")).body;
  assert.equal(typeof initial.sub, "string");
  const who = { sub: "u-1", email: "u1@example.com", name: "U One" };
  assert.deepEqual((await testApi(backend, "POST", "/_test/idp/user", who)).body, who);
  assert.deepEqual((await testApi(backend, "GET", "/_test/idp/user")).body, who);
  assert.equal((await testApi(backend, "POST", "/_test/idp/user", { email: "no sub" })).status, 400);
});

test("the request log classifies auth calls", async () => {
  const { tokens } = await signIn(backend, "anonymous");
  await signIn(backend, undefined, undefined, { refreshToken: tokens.refreshToken });
  await signIn(backend, undefined, { code: "nope" });
  await action("auth:signOut", {}, { Authorization: `Bearer ${tokens.token}` });
  await fetch(`${backend.url}/whoami`);
  const log = await requests();
  assert.deepEqual(
    log.map(({ path, kind, provider, hasAuth, status, fault }) => ({ path, kind, provider, hasAuth, status, fault })),
    [
      { path: "auth:signIn", kind: "signIn", provider: "anonymous", hasAuth: false, status: 200, fault: null },
      { path: "auth:signIn", kind: "refresh", provider: null, hasAuth: false, status: 200, fault: null },
      { path: "auth:signIn", kind: "code", provider: null, hasAuth: false, status: 200, fault: null },
      { path: "auth:signOut", kind: "signOut", provider: null, hasAuth: true, status: 200, fault: null },
      { path: "/whoami", kind: null, provider: null, hasAuth: false, status: 401, fault: null },
    ],
  );
  for (const entry of log) assert.equal(typeof entry.at, "number");
});

test("fault: network resets the connection before the function runs", async () => {
  await testApi(backend, "POST", "/_test/faults", { path: "auth:signIn", kind: "network", count: 2 });
  assert.deepEqual((await testApi(backend, "GET", "/_test/faults")).body.faults, [
    { path: "auth:signIn", kind: "network", count: 2 },
  ]);
  await assert.rejects(action("auth:signIn", { provider: "anonymous" }), TypeError);
  await assert.rejects(action("auth:signIn", { provider: "anonymous" }), TypeError);
  assert.equal((await action("auth:signIn", { provider: "anonymous" })).status, 200);
  const log = await requests();
  assert.deepEqual(log.map((r) => [r.status, r.fault]), [[null, "network"], [null, "network"], [200, null]]);
});

test("fault: lost-response commits, then resets the connection", async () => {
  const { tokens } = await signIn(backend, "anonymous");
  await testApi(backend, "POST", "/_test/faults", { path: "messages:send", kind: "lost-response", count: 1 });
  await assert.rejects(mutation("messages:send", { body: "committed" }, tokens.token), TypeError);
  const list = await fetch(`${backend.url}/api/query`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${tokens.token}` },
    body: JSON.stringify({ path: "messages:list", args: {}, format: "json" }),
  });
  assert.deepEqual((await list.json()).value.map((m) => m.body), ["committed"]);
  // A refresh whose answer was lost: retrying the same refresh token gets the same child.
  await testApi(backend, "POST", "/_test/faults", { path: "auth:signIn", kind: "lost-response" });
  await assert.rejects(action("auth:signIn", { refreshToken: tokens.refreshToken }), TypeError);
  const retried = await (await action("auth:signIn", { refreshToken: tokens.refreshToken })).json();
  assert.ok(retried.value.tokens.token);
  const log = await requests();
  assert.equal(log.filter((r) => r.fault === "lost-response").length, 2);
});

test("fault: status answers without running; delay waits, then runs", async () => {
  await testApi(backend, "POST", "/_test/faults", { path: "auth:signIn", kind: "status", status: 503, count: 1 });
  assert.equal((await action("auth:signIn", { provider: "anonymous" })).status, 503);
  await testApi(backend, "POST", "/_test/faults", { path: "/whoami", kind: "status", status: 502 });
  assert.equal((await fetch(`${backend.url}/whoami`)).status, 502);
  await testApi(backend, "POST", "/_test/faults", { path: "auth:signIn", kind: "delay", delayMs: 400 });
  const started = Date.now();
  assert.equal((await action("auth:signIn", { provider: "anonymous" })).status, 200);
  assert.ok(Date.now() - started >= 400);
  const log = await requests();
  assert.deepEqual(log.map((r) => [r.status, r.fault]), [[503, "status"], [502, "status"], [200, "delay"]]);
  assert.equal((await testApi(backend, "POST", "/_test/faults", { path: "a:b", kind: "bogus" })).status, 400);
  await testApi(backend, "POST", "/_test/faults", { path: "a:b", kind: "network" });
  await testApi(backend, "DELETE", "/_test/faults");
  assert.deepEqual((await testApi(backend, "GET", "/_test/faults")).body, { faults: [] });
});

test("CORS for pages on other origins, and no keep-alive", async () => {
  const preflight = await fetch(`${backend.url}/api/action`, {
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
  const answer = await action("auth:signIn", { provider: "anonymous" }, { Origin: "http://localhost:5173" });
  assert.equal(answer.headers.get("access-control-allow-origin"), "http://localhost:5173");
  assert.equal(answer.headers.get("connection"), "close");
});
