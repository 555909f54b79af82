// The browser's APIs as small Promise helpers for the executor (executor.js): Web Locks, fetch
// with a timeout, the storages as adapter objects with a time limit, the page URL's code; and
// what the client checks and hands out at the boundary: the constructor's options, signIn's
// params, the state, events and errors it gives JS callers, auth.fetch; and the browser's JSON
// for the core (src/core/json/browser.rs: JSON.parse, atob and TextDecoder, so the wasm carries
// no parser). IndexedDB and the encrypted storage are in idb.js, WebAuthn in webauthn.js. What
// the session does is decided by the session machine in Rust (src/core/machine.rs).
// wasm-bindgen ships these files with the wasm as snippets (the npm web build bundles them into
// its glue). They are few on purpose: wasm-bindgen-test-runner's file server stalls now and then
// when a page fetches more than five snippets at once.

/**
 * Takes the Web Lock `name`, waiting at most `ms`. Resolves with the function that releases it,
 * or undefined when Web Locks are missing or the wait timed out (the browser also releases the
 * locks of a closed tab).
 */
export const lock = (name, ms) =>
  new Promise((granted) => {
    const locks = globalThis.navigator && navigator.locks;
    if (!locks) return granted();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ms);
    locks
      .request(name, { signal: abort.signal }, () => {
        clearTimeout(timer);
        return new Promise(granted);
      })
      .catch(() => granted());
  });

/**
 * Calls the Convex function `path` of `kind` ("action", "mutation", "query") at the deployment
 * `base`: POSTs `{path, args, format:"json"}` to `<base>/api/<kind>`, with
 * `Authorization: Bearer <bearer>` when given. Resolves with the answer `{status, body}` (`body`:
 * the parsed JSON, undefined when it is not JSON); the request and the read of the answer share
 * `ms`. Rejects with `{timedOut, message}` when there is no answer: `timedOut` when `ms` ran out,
 * otherwise the server could not be reached or the connection broke while reading.
 */
export const post = async (base, kind, path, args, bearer, ms) => {
  const abort = new AbortController();
  let timedOut = false;
  let message = "The server could not be reached";
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, ms);
  const headers = { "Content-Type": "application/json" };
  if (bearer) headers.Authorization = "Bearer " + bearer;
  try {
    const body = JSON.stringify({ path, args, format: "json" });
    const r = await fetch(base + "/api/" + kind, { method: "POST", body, headers, signal: abort.signal });
    message = "The connection broke while reading the answer";
    return { status: r.status, body: jsonParse(await r.text()) };
  } catch {
    throw { timedOut, message: timedOut ? "The request timed out" : message };
  } finally {
    clearTimeout(timer);
  }
};

/** A pending Promise with the functions that settle it: `{promise, resolve, reject}`. */
export const deferred = () => {
  const d = {};
  d.promise = new Promise((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
};

// ---- storages ----

/** A new memory store (an adapter over a Map). */
export const memory = () => {
  const m = new Map();
  return { getItem: (k) => m.get(k), setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
};

/**
 * The built-in storage `name` as an adapter: "localStorage" and "sessionStorage" are the
 * browser's own objects (reading them throws where Web Storage is blocked), "encrypted" the
 * functions above, "memory" a Map.
 */
export const builtin = (name) => {
  if (name == "memory") return memory();
  const s = globalThis[name];
  if (!s) throw Error("Web Storage is not available");
  return s;
};

/** Whether `o` has the adapter methods (reading them may throw: a Proxy's traps). */
export const isAdapter = (o) => {
  try {
    return ["getItem", "setItem", "removeItem"].every((m) => typeof o[m] == "function");
  } catch {
    return false;
  }
};

/**
 * Calls the adapter method `op` ("getItem", "setItem", "removeItem"), whose result may be a
 * value or a Promise, within `ms`. Resolves with the string read (undefined when absent, and for
 * the writes); rejects when the method throws or rejects, takes longer, or reads something that
 * is not a string.
 */
export const storeOp = (o, op, key, value, ms) =>
  within(() => (op == "setItem" ? o[op](key, value) : o[op](key)), ms, "The storage adapter").then((v) => {
    if (op != "getItem" || v == null) return;
    if (typeof v != "string") throw Error("The storage adapter returned a non-string value");
    return v;
  });

/**
 * What `f()` returns or resolves to, waiting at most `ms`; rejects with what it throws or
 * rejects with, or with `{timedOut: true, message}` (naming `who`) when `ms` runs out.
 */
export const within = (f, ms, who) => {
  let timer;
  return Promise.race([
    new Promise((ok) => ok(f())),
    new Promise((_, no) => (timer = setTimeout(() => no({ timedOut: true, message: who + " did not settle in time" }), ms))),
  ]).finally(() => clearTimeout(timer));
};

/** An adapter of three functions (a Rust `TokenStorage` wrapped). */
export const adapter = (getItem, setItem, removeItem) => ({ getItem, setItem, removeItem });

// ---- the constructor's options ----

const OPTIONS = ["url", "version", "functions", "storage", "storageNamespace", "shouldHandleCode", "replaceURL", "navigate", "verbose", "tokenSource", "storeUser", "currentUser"];
const STORAGES = ["localStorage", "sessionStorage", "memory", "encrypted"];

/**
 * The constructor's options, checked and with their defaults: `{url, version, functions,
 * storage, storageNamespace, shouldHandleCode, replaceURL, navigate, verbose}`, where `storage`
 * is a built-in name or the adapter object (whose methods JsStorage::new checks) and
 * `functions` a list of `[official name, path]`. Throws the message of the first problem.
 */
export const options = (o) => {
  const fail = (m) => {
    throw m;
  };
  if (!o || typeof o != "object") fail("Options must be an object with a `url`");
  if (Object.keys(o).some((k) => !OPTIONS.includes(k))) fail("Unknown option (allowed: " + OPTIONS.join(", ") + ")");
  const { url, version = "v1", functions = {}, storage = STORAGES[0], storageNamespace, shouldHandleCode = true, replaceURL, navigate = true, verbose = false, tokenSource, storeUser, currentUser } = o;
  if (typeof url != "string") fail("`url` is required and must be a string");
  if (version != "v1" && version != "v2") fail('`version` must be "v1" or "v2"');
  if (!functions || typeof functions != "object" || Array.isArray(functions)) fail("`functions` must be an object");
  const named = Object.entries(functions);
  if (named.some(([, path]) => typeof path != "string")) fail('`functions` must map names to "module:function" strings');
  if (typeof storage == "string") {
    if (!STORAGES.includes(storage)) fail('`storage` must be "' + STORAGES.join('", "') + '" or an adapter object');
  } else if (!storage || typeof storage != "object") fail("`storage` must be a storage name or an adapter object");
  if (storageNamespace !== undefined && typeof storageNamespace != "string") fail("`storageNamespace` must be a string");
  if (typeof shouldHandleCode != "boolean" && typeof shouldHandleCode != "function")
    fail("`shouldHandleCode` must be a boolean or a function");
  if (replaceURL !== undefined && typeof replaceURL != "function") fail("`replaceURL` must be a function");
  if (typeof navigate != "boolean") fail("`navigate` must be a boolean");
  if (typeof verbose != "boolean") fail("`verbose` must be a boolean");
  if (tokenSource !== undefined) {
    if (!tokenSource || typeof tokenSource != "object" || typeof tokenSource.fetchToken != "function")
      fail("`tokenSource` must be an object with a `fetchToken` function");
    for (const f of ["subscribe", "signIn", "signOut"])
      if (tokenSource[f] !== undefined && typeof tokenSource[f] != "function") fail("`tokenSource." + f + "` must be a function");
    for (const k of ["version", "functions", "storage", "storageNamespace"])
      if (o[k] !== undefined) fail("`" + k + "` is not used with `tokenSource` (the platform holds the session)");
  }
  for (const [k, path] of [["storeUser", storeUser], ["currentUser", currentUser]])
    if (path !== undefined && (typeof path != "string" || !/^[^:]+:[^:]+$/.test(path))) fail("`" + k + '` must name a function as "module:function"');
  return { url, version, functions: named, storage, storageNamespace, shouldHandleCode, replaceURL, navigate, verbose, tokenSource, storeUser, currentUser };
};

/**
 * `url` checked as a deployment URL (absolute http(s), no query or fragment) and returned
 * without trailing slashes; throws the message of the problem.
 */
export const deploymentUrl = (url) => {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw "`url` is not a valid URL";
  }
  if (u.protocol != "https:" && u.protocol != "http:") throw "`url` must be an http(s) deployment URL";
  if (u.search || u.hash) throw "`url` must not have a query or fragment";
  return url.replace(/\/+$/, "");
};

/** The page's URL, where an OAuth sign-in comes back by default (undefined without a window). */
export const pageUrl = () => globalThis.location?.href;

/**
 * The page URL's query parameters `codeParam` and `errorParam` (none: undefined) as `{code,
 * error}` when `handle` (true, false, or a function of the URL; one that throws means no) says
 * to take them, removed from the URL first: by `replace(relativeUrl)` (awaited) or
 * `history.replaceState`. Undefined when there is nothing to take, or no window.
 */
export const takeCode = async (handle, replace, codeParam, errorParam) => {
  if (typeof window == "undefined") return;
  const url = new URL(location.href);
  const taken = {};
  for (const [name, param] of [["code", codeParam], ["error", errorParam]]) {
    if (param && url.searchParams.has(param)) taken[name] = url.searchParams.get(param);
  }
  try {
    if (!Object.keys(taken).length || !(typeof handle == "function" ? handle(url) : handle)) return;
  } catch {
    return;
  }
  url.searchParams.delete(codeParam);
  if (errorParam) url.searchParams.delete(errorParam);
  const relative = url.pathname + url.search + url.hash;
  try {
    await (replace ? replace(relative) : history.replaceState(null, "", relative));
  } catch {}
  return taken;
};

// ---- values handed to JS callers (the facade's shapes; see the TypeScript section) ----

/** A frozen AuthState; `storedUserId` and `user` only when set (the storeUser and currentUser options). */
export const state = (isLoading, isAuthenticated, token, userId, sessionId, expiresAt, storedUserId, user) =>
  Object.freeze({
    isLoading,
    isAuthenticated,
    token: token ?? null,
    userId: userId ?? null,
    sessionId: sessionId ?? null,
    expiresAt: expiresAt ?? null,
    ...(storedUserId === undefined ? {} : { storedUserId }),
    ...(user === undefined ? {} : { user }),
  });

/** An AuthEvent. */
export const event = (type, state, error) => (error ? { type, state, error } : { type, state });

/** A ConvexAuthError; `data` is the server's ConvexError payload. */
export const authError = (message, code, retryable, data) => {
  const e = Error(message);
  e.name = "ConvexAuthError";
  e.code = code;
  e.retryable = retryable;
  if (data !== undefined) e.data = data;
  return e;
};

/** What signIn resolves with; `redirect` becomes a URL. */
export const signInResult = (signingIn, redirect) => {
  try {
    if (redirect) return { signingIn, redirect: new URL(redirect) };
  } catch {}
  return { signingIn };
};

/**
 * signIn's params (none, a FormData, or a plain object of strings) as a new plain object of
 * strings, without the undefined values; throws the message of the problem (reading a Proxy
 * whose traps throw is one).
 */
export const signInParams = (p) => {
  let e;
  try {
    e = p == null ? [] : p instanceof FormData ? [...p] : typeof p == "object" && !Array.isArray(p) && Object.entries(p);
  } catch {}
  if (!e) throw "`params` must be a FormData or a plain object of strings";
  e = e.filter(([, v]) => v !== undefined);
  if (e.some(([, v]) => typeof v != "string")) throw "Every `params` value must be a string";
  return Object.fromEntries(e);
};

/** The origin of `url` as the browser's URL parser serialises it; undefined for an invalid URL. */
export const originOf = (url) => {
  try {
    return new URL(url).origin;
  } catch {}
};

export const params = (m) => authError(m, "InvalidParams", false);

// Sends a request; a rejected fetch is a Network error.
const send = (r) =>
  fetch(r).catch(() => {
    throw authError("The server could not be reached", "Network", true);
  });

// A copy of `r` carrying the token (a body can be read once: each send gets its own copy).
const bearer = (r, token) => {
  try {
    r = r.clone();
  } catch {
    throw params("The request body was already used");
  }
  try {
    r.headers.set("Authorization", "Bearer " + token);
  } catch {
    throw params("The request's headers are immutable");
  }
  return r;
};

/**
 * auth.fetch over a client's `port`: `fetch` with `Authorization: Bearer <jwt>` for the origins
 * the port says belong to the deployment (core::origin decides); after a 401, one forced refresh
 * and one retry with the new token, as API.md specifies. Other origins, and a signed-out client,
 * get the request unchanged. Takes fetch's arguments (a string, a URL or a Request, and init).
 */
export const authFetch = (port) => async (input, init) => {
  let r;
  try {
    if (!(typeof input == "string" || input instanceof URL || input instanceof Request)) throw 0;
    r = new Request(input, init);
  } catch {
    throw params("`fetch` needs a URL, a string or a Request");
  }
  const t = port.owns(originOf(r.url)) && (await port.token(false));
  if (!t) return send(r);
  const first = await send(bearer(r, t));
  if (first.status != 401) return first;
  const fresh = await port.token(true);
  return fresh && fresh != t ? send(bearer(r, fresh)) : first;
};

/** The message of a thrown value: an Error's `message`, or the value itself when a string. */
export const message = (e) => (typeof e == "string" ? e : typeof e?.message == "string" ? e.message : "unknown error");

// ---- JSON for the core's browser backend ----

/** JSON.parse; undefined for malformed text. */
export const jsonParse = (text) => {
  try {
    return JSON.parse(text);
  } catch {}
};

/** The JSON (UTF-8) in a base64url segment, as in a JWT; undefined when it is not that. */
export const jsonOfBase64url = (segment) => {
  try {
    const bytes = Uint8Array.from(atob(segment.replace(/-/g, "+").replace(/_/g, "/")), (c) =>
      c.charCodeAt(0),
    );
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {}
};

/** The own field `key` of an object that is not an array; undefined otherwise. */
export const jsonField = (v, key) =>
  v && typeof v == "object" && !Array.isArray(v) && Object.hasOwn(v, key) ? v[key] : undefined;
