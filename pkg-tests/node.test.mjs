// The built package outside a browser: Node (scripts, tests, a server that signs in as a user)
// loads pkg/web with the wasm bytes given to init(). There is no Web Storage, no window, no
// Web Locks, no BroadcastChannel listener to add: the client must still work, in memory or
// through an adapter, against the local backend.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { startNode, stop } from "./processes.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { default: init, ConvexAuthClient } = await import(`${ROOT}pkg/web/convex_auth_wasm.js`);

let backend;
let url;
const children = [];
before(async () => {
  await init({ module_or_path: readFileSync(`${ROOT}pkg/web/convex_auth_wasm_bg.wasm`) });
  backend = await startNode("www/backend/main.mjs", { PORT: "0" }, children);
  url = backend.info.url;
});
after(async () => {
  for (const child of children) await stop(child);
});

const requests = async () => (await fetch(`${url}/_test/requests`)).json();

/** A client with its events recorded as `type` or `type:code`. */
function client(options) {
  const auth = new ConvexAuthClient({ url, ...options });
  const events = [];
  auth.onChange((e) => events.push(e.error ? `${e.type}:${e.error.code}` : e.type));
  return { auth, events };
}

test("Node, memory storage: sign in, refresh, auth.fetch, sign out", async () => {
  const { auth, events } = client({ storage: "memory" });
  await auth.ready();
  assert.equal(auth.isLoading, false);
  assert.deepEqual(await auth.signIn("anonymous"), { signingIn: true });
  const first = auth.getSnapshot();
  assert.equal(first.isAuthenticated, true);
  assert.match(first.userId, /users$/);
  const rotated = await auth.fetchAccessToken({ forceRefreshToken: true });
  assert.ok(rotated && rotated !== first.token);
  const whoami = await auth.fetch(`${url.replace(/\/$/, "")}/whoami`);
  assert.equal(whoami.status, 200);
  assert.equal((await whoami.json()).subject, `${first.userId}|${first.sessionId}`);
  await auth.signOut();
  assert.equal(auth.isAuthenticated, false);
  assert.deepEqual(events, ["initialized", "signedIn", "tokenRefreshed", "signedOut"]);
  auth.free();
});

test("Node, default storage: no Web Storage is one Storage error, then the client runs in memory", async () => {
  const { auth, events } = client({});
  await auth.ready();
  assert.deepEqual(await auth.signIn("anonymous"), { signingIn: true });
  assert.equal(auth.isAuthenticated, true);
  assert.deepEqual(events, ["error:Storage", "initialized", "signedIn"]);
  await auth.signOut();
  auth.free();
});

test("Node, an async adapter: the session survives a new client with no request", async () => {
  const map = new Map();
  const storage = {
    getItem: async (key) => map.get(key) ?? null,
    setItem: async (key, value) => void map.set(key, value),
    removeItem: async (key) => void map.delete(key),
  };
  const one = client({ storage, storageNamespace: "node" });
  await one.auth.ready();
  await one.auth.signIn("anonymous");
  const signedIn = one.auth.getSnapshot();
  assert.equal(map.get("__convexAuthJWT_node"), signedIn.token);
  assert.ok(map.get("__convexAuthRefreshToken_node"));
  one.auth.free();

  const sent = (await requests()).length;
  const two = client({ storage, storageNamespace: "node" });
  await two.auth.ready();
  assert.equal(two.auth.token, signedIn.token);
  assert.equal(two.auth.getSnapshot().userId, signedIn.userId);
  assert.equal((await requests()).length, sent, "a stored valid JWT costs no request");
  assert.deepEqual(two.events, ["initialized"]);
  await two.auth.signOut();
  assert.equal(map.size, 0, "sign-out clears the adapter's keys");
  two.auth.free();
});
