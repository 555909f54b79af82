// The JS side of the wasm client: the browser's asynchronous APIs as Promises (IndexedDB,
// WebCrypto, Web Locks, fetch with a timeout), the storages as adapter objects with a time limit,
// the constructor's option checks, auth.fetch, the JS values the client hands out (state, events,
// errors, its unbound functions), and the driver (`client`), which runs the client's
// asynchronous steps. The session itself and its decisions (what a stored token is worth, when
// to refresh, which token to adopt, what an answer means, who signs out) are in Rust: the
// driver asks the core (src/web/client.rs, `Inner::op`) at every step. wasm-bindgen ships this
// file with the wasm as a snippet (the npm web build bundles it into the glue): this code costs
// a fraction of the size of the same code as Rust futures and closures.

const STORE = "kv";
const RECORD = "encrypted:"; // prefix of the records of encrypted values
const IV = 12;
const text = new TextEncoder();

let db; // Promise of the open IDBDatabase "convex-auth-wasm"; unset after a failure or a close
let cachedKey; // Promise of the database's CryptoKey, read once per connection

const open = () => {
  if (!db) {
    if (!globalThis.indexedDB) throw Error("IndexedDB is not available here");
    const r = indexedDB.open("convex-auth-wasm", 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    const p = (db = new Promise((ok, fail) => {
      r.onsuccess = () => {
        // A page that deletes or upgrades the database may proceed; the next call reopens.
        r.result.onversionchange = () => {
          r.result.close();
          if (db === p) db = cachedKey = undefined;
        };
        ok(r.result);
      };
      r.onerror = () => fail(r.error);
    }));
  }
  return db;
};

// Runs `op(store)` in a transaction and resolves with its request's result once committed.
// A failure is retried once on a fresh connection (another page may have closed this one).
const run = async (mode, op, retry = 1) => {
  try {
    const tx = (await open()).transaction(STORE, mode);
    const r = op(tx.objectStore(STORE));
    return await new Promise((ok, fail) => {
      tx.oncomplete = () => ok(r.result);
      tx.onerror = tx.onabort = () => fail(tx.error || r.error || Error("IndexedDB transaction failed"));
    });
  } catch (e) {
    if (!retry) throw e;
    const stale = db;
    db = cachedKey = undefined;
    stale?.then((d) => d.close(), () => {});
    return run(mode, op, 0);
  }
};

/** The record `key`, or undefined. */
export const idbGet = (key) => run("readonly", (s) => s.get(key));

/** Stores `value` under `key` (deletes it when undefined); resolves once committed. */
export const idbSet = (key, value) =>
  run("readwrite", (s) => (value === undefined ? s.delete(key) : s.put(value, key)));

// storage: "encrypted": values kept in IndexedDB (database `convex-auth-wasm`, store `kv`, records
// `encrypted:<key>`), each sealed with AES-GCM (random 96-bit IV, the storage key as additional
// data) under a non-extractable WebCrypto key stored in the same database. Script in the page
// cannot read the key's bytes and a copied database file or record is ciphertext; script running
// in the page can still ask this client (or the key) to decrypt, so this protects tokens at rest,
// not from XSS. A record that does not decrypt (tampered, truncated, or from a lost key) reads as
// absent.

const subtle = () => {
  if (!globalThis.crypto || !crypto.subtle) throw Error("WebCrypto is not available (insecure context)");
  return crypto.subtle;
};

const isKey = (k) => !!globalThis.CryptoKey && k instanceof CryptoKey;

// The database's AES-GCM key (non-extractable), created on first use. Two tabs creating it at
// once race on `add`: the loser reads the winner's key.
const loadKey = async () => {
  const KEY = "__convexAuthWasmKey";
  const stored = await idbGet(KEY);
  if (isKey(stored)) return stored;
  const key = await subtle().generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  try {
    await run("readwrite", (s) => s.add(key, KEY), 0);
    return key;
  } catch {
    const winner = await idbGet(KEY);
    if (isKey(winner)) return winner;
    throw Error("The encryption key could not be stored");
  }
};

// The key, cached with the connection: a deleted database (which closes the connection) drops it.
const cryptoKey = () =>
  (cachedKey ??= loadKey().catch((e) => {
    cachedKey = undefined;
    throw e;
  }));

// The storage key is bound to its value as additional data: a record moved to another key does
// not decrypt.
const gcm = (iv, name) => ({ name: "AES-GCM", iv, additionalData: text.encode(name) });

/** The decrypted value of `name`; undefined when absent or when it does not decrypt. */
const decrypt = async (name) => {
  const record = await idbGet(RECORD + name);
  const key = await cryptoKey();
  if (!(record instanceof Uint8Array) || record.length <= IV) return undefined;
  try {
    const plain = await subtle().decrypt(gcm(record.subarray(0, IV), name), key, record.subarray(IV));
    return new TextDecoder("utf-8", { fatal: true }).decode(plain);
  } catch {
    return undefined; // tampered, truncated, or sealed under a lost key: the next write replaces it
  }
};

/** Stores `value` under `name`, sealed as a random 96-bit IV followed by the AES-GCM ciphertext. */
const encrypt = async (name, value) => {
  const key = await cryptoKey();
  const iv = crypto.getRandomValues(new Uint8Array(IV));
  const sealed = new Uint8Array(await subtle().encrypt(gcm(iv, name), key, text.encode(value)));
  const record = new Uint8Array(IV + sealed.length);
  record.set(iv);
  record.set(sealed, IV);
  return idbSet(RECORD + name, record);
};

/** Removes the value of `name`. */
const erase = (name) => idbSet(RECORD + name);

/**
 * Takes the Web Lock `name`, waiting at most `ms`. Resolves with the function that releases it,
 * or undefined when Web Locks are missing or the wait timed out (the browser also releases the
 * locks of a closed tab).
 */
const lock = (name, ms) =>
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
 * Calls the Convex action `path` at the deployment `base`: POSTs `{path, args, format:"json"}`
 * to `<base>/api/action`, with `Authorization: Bearer <bearer>` when given, and resolves with
 * [status, the answer's JSON (undefined when it is not JSON), the local time of receipt]. The
 * request and the read of the answer share `ms`. Rejects with a retryable ConvexAuthError:
 * Network when the server could not be reached or the connection broke while reading, Timeout.
 */
const post = async (base, path, args, bearer, ms) => {
  const abort = new AbortController();
  let stage = 0;
  const timer = setTimeout(() => {
    stage = 2;
    abort.abort();
  }, ms);
  const headers = { "Content-Type": "application/json" };
  if (bearer) headers.Authorization = "Bearer " + bearer;
  try {
    const body = JSON.stringify({ path, args, format: "json" });
    const r = await fetch(base + "/api/action", { method: "POST", body, headers, signal: abort.signal });
    stage = 1;
    return [r.status, jsonParse(await r.text()), Date.now()];
  } catch {
    throw authError(
      ["The server could not be reached", "The connection broke while reading the answer", "The request timed out"][stage],
      stage > 1 ? "Timeout" : "Network",
      true,
    );
  } finally {
    clearTimeout(timer);
  }
};

/** [a pending Promise, its resolve function]; resolved after `ms` when given. */
export const deferred = (ms) => {
  let resolve;
  const p = new Promise((ok) => (resolve = ok));
  if (ms !== undefined) setTimeout(resolve, ms);
  return [p, resolve];
};

// ---- JSON (core::json's browser backend) ----

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

// ---- storages ----

/** A new memory store (an adapter over a Map), holding `value` under `key` when given. */
export const memory = (key, value) => {
  const m = new Map();
  if (value != null) m.set(key, value);
  return { getItem: (k) => m.get(k), setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
};

/**
 * The built-in storage `name` as an adapter: "localStorage" and "sessionStorage" are the
 * browser's own objects (reading them throws where Web Storage is blocked), "encrypted" the
 * functions above, "memory" a Map.
 */
export const builtin = (name) => {
  if (name == "encrypted") return { getItem: decrypt, setItem: encrypt, removeItem: erase };
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
const store = (o, op, key, value, ms) => {
  let timer;
  return Promise.race([
    new Promise((ok) => ok(op == "setItem" ? o[op](key, value) : o[op](key))),
    new Promise((_, no) => (timer = setTimeout(() => no(Error("The storage adapter did not settle in time")), ms))),
  ])
    .finally(() => clearTimeout(timer))
    .then((v) => {
      if (op != "getItem" || v == null) return;
      if (typeof v != "string") throw Error("The storage adapter returned a non-string value");
      return v;
    });
};

/** An adapter of three functions (a Rust `TokenStorage` wrapped). */
export const adapter = (getItem, setItem, removeItem) => ({ getItem, setItem, removeItem });

// ---- the constructor's options ----

const OPTIONS = ["url", "storage", "storageNamespace", "shouldHandleCode", "replaceURL", "navigate", "verbose"];
const STORAGES = ["localStorage", "sessionStorage", "memory", "encrypted"];

/**
 * The constructor's options, checked and with their defaults: [url, storage, storageNamespace,
 * shouldHandleCode, replaceURL, navigate, verbose], where storage is the index of a built-in
 * name in STORAGES or the adapter object (whose methods JsStorage::new checks). Throws the
 * message of the first problem.
 */
export const options = (o) => {
  const fail = (m) => {
    throw m;
  };
  if (!o || typeof o != "object") fail("Options must be an object with a `url`");
  if (Object.keys(o).some((k) => !OPTIONS.includes(k))) fail("Unknown option (allowed: " + OPTIONS.join(", ") + ")");
  let [url, storage = STORAGES[0], ns, code = true, replace, navigate = true, verbose = false] = OPTIONS.map((k) => o[k]);
  if (typeof url != "string") fail("`url` is required and must be a string");
  if (typeof storage == "string") {
    storage = STORAGES.indexOf(storage);
    if (storage < 0) fail('`storage` must be "' + STORAGES.join('", "') + '" or an adapter object');
  } else if (!storage || typeof storage != "object") fail("`storage` must be a storage name or an adapter object");
  if (ns !== undefined && typeof ns != "string") fail("`storageNamespace` must be a string");
  if (typeof code != "boolean" && typeof code != "function") fail("`shouldHandleCode` must be a boolean or a function");
  if (replace !== undefined && typeof replace != "function") fail("`replaceURL` must be a function");
  if (typeof navigate != "boolean") fail("`navigate` must be a boolean");
  if (typeof verbose != "boolean") fail("`verbose` must be a boolean");
  return [url, storage, ns, code, replace, navigate, verbose];
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

/**
 * The `code` of the page URL when `handle` (true, false, or a function of the URL; one that
 * throws means no) says to exchange it, removed from the URL first: by `replace(relativeUrl)`
 * (awaited) or `history.replaceState`. Undefined when there is no code to exchange, or no window.
 */
const takeCode = async (handle, replace) => {
  if (typeof window == "undefined") return;
  const url = new URL(location.href);
  const code = url.searchParams.get("code");
  try {
    if (code == null || !(typeof handle == "function" ? handle(url) : handle)) return;
  } catch {
    return;
  }
  url.searchParams.delete("code");
  const relative = url.pathname + url.search + url.hash;
  try {
    await (replace ? replace(relative) : history.replaceState(null, "", relative));
  } catch {}
  return code;
};

// ---- values handed to JS callers (the facade's shapes; see the TypeScript section) ----

/** A frozen AuthState. */
export const state = (isLoading, isAuthenticated, token, userId, sessionId, expiresAt) =>
  Object.freeze({
    isLoading,
    isAuthenticated,
    token: token ?? null,
    userId: userId ?? null,
    sessionId: sessionId ?? null,
    expiresAt: expiresAt ?? null,
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

/** The args of auth:signIn (undefined ones are left out of the JSON). */
const args = (provider, params, verifier, refreshToken) => ({ provider, params, verifier, refreshToken });

/**
 * The client's unbound functions [getSnapshot, subscribe, onChange, fetchAccessToken] over the
 * Rust core `f` (whose op 0 makes the state object) and the driver's fetchAccessToken, and `changed`,
 * which the client calls after every change: `changed()` for a new state, `changed(type,
 * error)` for an event. getSnapshot answers from a cache (no call into wasm) until the state
 * changes. The JS listeners are kept here; each is called with no other listener running, in
 * the order they were added (state listeners before event listeners), and one that throws is
 * reported without disturbing the others. An unsubscribe function may be called any number of
 * times.
 */
export const unbound = (f, fetchAccessToken) => {
  let snapshot;
  const getSnapshot = () => (snapshot ??= f(0));
  const states = new Set();
  const events = new Set();
  const tell = (set, value) => {
    for (const entry of [...set]) {
      try {
        entry.l(value);
      } catch (e) {
        console.error("[convex-auth-wasm] a listener threw:", e);
      }
    }
  };
  const listen = (set, now) => (l) => {
    if (typeof l != "function") throw params("The listener must be a function");
    const entry = { l };
    set.add(entry);
    if (now) tell([entry], getSnapshot());
    return () => set.delete(entry);
  };
  const changed = (type, error) => {
    if (type) return tell(events, event(type, getSnapshot(), error));
    snapshot = undefined;
    tell(states, getSnapshot());
  };
  return [getSnapshot, listen(states, 1), listen(events), fetchAccessToken, changed];
};

/**
 * Whether `url` belongs to the deployment `base`: its origin, or for `https://x.convex.cloud`
 * the origin of its HTTP actions, `https://x.convex.site`.
 */
export const own = (base, url) => {
  try {
    const b = new URL(base);
    const o = new URL(url).origin;
    const twin = b.protocol == "https:" && b.hostname.endsWith(".convex.cloud");
    return o == b.origin || (twin && o == "https://" + b.hostname.slice(0, -13) + ".convex.site");
  } catch {
    return false;
  }
};

const params = (m) => authError(m, "InvalidParams", false);

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
 * auth.fetch for the deployment `base`, over the client's fetchAccessToken `token`: `fetch` with
 * `Authorization: Bearer <jwt>` for the deployment's own origins; after a 401, one forced refresh
 * and one retry with the new token. Other origins, and a signed-out client, get the request
 * unchanged. Takes fetch's arguments (a string, a URL or a Request, and init).
 */
export const authFetch = (token, base) => async (input, init) => {
  let r;
  try {
    if (!(typeof input == "string" || input instanceof URL || input instanceof Request)) throw 0;
    r = new Request(input, init);
  } catch {
    throw params("`fetch` needs a URL, a string or a Request");
  }
  const t = own(base, r.url) && (await token({ forceRefreshToken: false }));
  if (!t) return send(r);
  const first = await send(bearer(r, t));
  if (first.status != 401) return first;
  const fresh = await token({ forceRefreshToken: true });
  return fresh && fresh != t ? send(bearer(r, fresh)) : first;
};

// ---- the driver: the client's asynchronous steps ----

/** The message of a thrown value: an Error's `message`, or the value itself when a string. */
export const message = (e) => (typeof e == "string" ? e : typeof e?.message == "string" ? e.message : "unknown error");

// The ops of the Rust core `f(op, a, b, c)` (src/web/client.rs, `Inner::op`).
const SESSION = 1; // [epoch, token, refresh due (local ms), earliest distinct rotation (local ms)]
const SET = 2; // (token or null, local time of receipt for a token just minted): makes it current
const ERROR = 3; // (ConvexAuthError): an error event
const LOADED = 4; // (signed in by the URL code): the first state is known
const ADOPT = 5; // (stored JWT, hand-over copy, token held): the token to adopt, if any
// (status, JSON) of auth:signIn: [1, jwt, refresh token] | [0] no tokens | [2] started |
// [3, url, verifier]; (status, JSON, refresh token) of a refresh: [1, jwt, refresh token] |
// [0] ended by the server | [2] refresh token rejected. Throws the ConvexAuthError otherwise
// (for a refresh: transient, the session is kept).
const ANSWER = 6;
const BACKOFF = 7; // (attempt): ms before the next try
const BUMP = 8; // answers to requests made before now are for a session that is gone
const SIGN_IN = "auth:signIn"; // signs in, exchanges codes and refreshes

/**
 * The client's asynchronous steps over the Rust core `f`, which holds the session and decides:
 * start-up (stored session, URL code), signIn, signOut, fetchAccessToken with the single-flight
 * refresh under the Web Lock and its retries, the refresh timer, storage with its fall-back to
 * memory, and following other tabs. `keys` are [jwt, refresh token, verifier]; `area` is the
 * localStorage object whose `storage` events other tabs fire (undefined for other storages);
 * `shared` says whether other tabs use the same storage; `st` is undefined when the storage did
 * not open, and `pending` what it threw (then the client starts in memory). Resolves nothing itself: the returned object's
 * methods are what the Rust client and the facade call.
 */
export const client = (f, url, [JWT, RT, VER], st, area, shared, pending, handle, replace, navigate, verbose) => {
  const trace = (m) => verbose && console.debug("[convex-auth-wasm]", m);
  const now = Date.now;
  // Once the Rust client is dropped the core answers nothing: signed out, under no epoch.
  const session = () => f(SESSION) || [-1];
  const fresh = (s) => s[1] != null && now() < s[2];
  const [ready, loaded] = deferred();
  const offs = [];
  const unopened = !st; // the storage threw `pending` when opened: memory from the start
  let failed = unopened, holding, later = [], flight, timer, wakers = [], disposed, loading = 1, handedOut, channel;
  let due = Infinity; // when the current token is due (local ms), kept by schedule()
  let rt; // the refresh token last read or written: carried into memory if the storage fails
  const handover = area && "handover:" + JWT;
  try {
    if (shared && !area) channel = new BroadcastChannel("convex-auth-wasm:" + JWT);
  } catch {}

  if (unopened) st = memory();
  // The error event of a storage that threw: the client goes on in memory.
  const storageError = (e) => authError(message(e), "Storage", false);

  // Errors wait while this tab holds the refresh lock.
  const emit = (e) => {
    trace(e?.code);
    holding ? later.push(e) : f(ERROR, e);
  };

  // ---- storage, with the fall-back to memory (carrying the session over) ----
  const op = async (name, key, value) => {
    for (;;)
      try {
        return await store(st, name, key, value, 5000);
      } catch (e) {
        if (failed) return;
        failed = 1;
        st = memory(JWT, session()[1]);
        if (rt != null) st.setItem(RT, rt);
        area = undefined;
        emit(storageError(e));
      }
  };
  const read = (key) => op("getItem", key);
  const write = async (key, value) => {
    await op(value == null ? "removeItem" : "setItem", key, value ?? undefined);
    if (key == JWT && !failed) {
      if (handover) await idbSet(handover, value ?? undefined).catch(() => {});
      try {
        channel?.postMessage("jwt");
      } catch {}
    }
  };
  // JWT first, then the refresh token, as the official client does: persisted before announced.
  // Without tokens: cleared.
  const persist = async (jwt, refreshToken) => {
    rt = refreshToken;
    await write(JWT, jwt);
    await write(RT, refreshToken);
  };
  const clear = () => persist();
  const call = (path, a, bearer) => post(url, path, a, bearer, 15000);

  // ---- session changes ----
  // Arms the timer for the current session's refresh (every change of session comes here).
  const schedule = () => {
    clearTimeout(timer);
    const s = session();
    due = s[1] != null ? s[2] : Infinity;
    if (due < Infinity && !disposed) timer = setTimeout(checkDue, Math.min(Math.max(due - now(), 0), 2147483647));
  };
  const set = (token, at) => {
    f(SET, token ?? null, at);
    schedule();
  };

  // ---- sign-in ----
  const signInCall = async (provider, params) => {
    // The verifier belongs to one OAuth attempt: taken out for every sign-in, as the official
    // client does.
    let verifier = await read(VER);
    if (verifier != null) await write(VER);
    let r, answer;
    for (;;) {
      answer = await call(SIGN_IN, args(provider, params, verifier));
      r = f(ANSWER, answer[0], answer[1]) || [0];
      // A verifier left behind by an abandoned OAuth attempt makes a magic-link code fail: try
      // such a code once more without it.
      if (r[0] || verifier == null || !("code" in params)) break;
      verifier = undefined;
    }
    trace("signIn: answered");
    if (r[0] == 1) {
      await persist(r[1], r[2]);
      set(r[1], answer[2]);
      return [true];
    }
    if (r[0] != 3) return [false];
    await write(VER, r[2]);
    if (navigate)
      try {
        location.href = r[1];
      } catch {}
    return [false, r[1]];
  };

  // ---- refresh ----
  // The part that may run under the lock: storage and the request, no listener. Resolves with
  // [token, time of receipt] to make current, 0 when the session ended (storage cleared), or
  // true when the answer came for a session that has ended since.
  const rotate = async (held, epoch) => {
    // Another tab (or caller) may have rotated while this one waited: adopt its token. The newer
    // of the stored JWT and the hand-over copy wins (localStorage may lag here).
    const jwt = await read(JWT);
    const copy = handover && (await idbGet(handover).catch(() => {}));
    const adopted = f(ADOPT, jwt, copy, held);
    if (adopted) {
      trace("refresh: adopting the token another tab stored");
      return [adopted];
    }
    const refreshToken = (rt = await read(RT));
    if (refreshToken == null) {
      trace("refresh: no refresh token, signing out");
      await clear();
      return 0;
    }
    if (disposed) return true; // no rotation after free(): its answer could not be kept
    trace("refresh: request");
    let answer, failure;
    try {
      answer = await call(SIGN_IN, args(undefined, undefined, undefined, refreshToken));
    } catch (e) {
      failure = e;
    }
    // Signed out (or in again) meanwhile: this answer is for a session that is gone.
    if (session()[0] != epoch || disposed) return true;
    if (failure) throw failure;
    const r = f(ANSWER, answer[0], answer[1], refreshToken);
    if (r[0] == 1) {
      await persist(r[1], r[2]);
      return [r[1], answer[2]];
    }
    trace(r[0] ? "refresh: refresh token rejected" : "refresh: session ended by the server");
    await clear();
    return 0;
  };

  // One refresh: the token, or null when the session is over; throws when transient (session
  // kept). For storages shared with other tabs the rotation runs under the Web Lock; listeners
  // are told only after the lock is released.
  const refreshOnce = async (force) => {
    const s = session();
    // Forced: make sure the new JWT differs from the one the caller holds.
    if (force && s[1] != null && s[3] > now()) await deferred(s[3] - now())[0];
    const epoch = session()[0];
    const release = shared && (await lock(RT, 20000));
    holding = !!release;
    let r;
    try {
      r = await rotate(s[1], epoch);
    } finally {
      release && release();
      holding = false;
      later.splice(0).forEach(emit);
    }
    if (r === true) return session()[1] ?? null;
    if (!r) {
      f(BUMP);
      set();
      return null;
    }
    set(r[0], r[1]);
    return r[0];
  };

  // Refreshes until a definitive outcome: transient failures are retried with backoff (at once
  // when the browser comes back online) and never end the session.
  const loop = async (force) => {
    const start = session()[1];
    for (let attempt = 0; ; attempt++) {
      if (disposed) return null;
      // Another tab rotated while we waited: use its token.
      const s = session();
      if (attempt && s[1] != start && fresh(s)) return s[1];
      try {
        return await refreshOnce(force);
      } catch (e) {
        emit(e);
        const [wait, wake] = deferred(f(BACKOFF, attempt) ?? 0);
        wakers.push(wake);
        await wait;
      }
    }
  };

  // The shared refresh: every caller joins the one in flight.
  const refresh = (force) => (flight ??= loop(force).finally(() => (flight = undefined)));

  // Refreshes if the token is due (timer, wake-up, focus); re-arms a timer that fired early.
  const checkDue = () => {
    if (loading || disposed || flight) return;
    const s = session();
    if (s[1] == null) return;
    fresh(s) ? schedule() : refresh(false);
  };

  const token = async (force) => {
    // The token callers held when this call began: concurrent forced calls that started together
    // all count as holding it, so the first one's answer does not make the others rotate again.
    const held = handedOut;
    await ready;
    const s = session();
    const t =
      fresh(s) && (!force || (held != null && held != s[1]))
        ? s[1]
        : s[1] == null && !flight
          ? null
          : await refresh(force);
    return (handedOut = t);
  };

  // ---- start-up ----
  const init = async () => {
    await 0; // after the constructor has returned, so that listeners added then hear everything
    let byCode;
    try {
      if (disposed) return; // freed at once: the URL code is left for another client
      if (unopened) emit(storageError(pending));
      const stored = await read(JWT);
      trace(stored == null ? "init: no stored session" : "init: stored session");
      set(stored);
      const code = await takeCode(handle, replace);
      if (code != null) {
        trace("init: exchanging the URL code");
        try {
          (await signInCall(undefined, { code }))[0]
            ? (byCode = 1)
            : emit(authError("The sign-in code from the URL was not accepted", "InvalidCode", false));
        } catch (e) {
          emit(e);
        }
      }
      // A stored token that is due (or unreadable, with a refresh token beside it) is replaced
      // before the first state is announced; one attempt, the retries go on in the background.
      const s = session();
      if (s[1] != null ? !fresh(s) : (await read(RT)) != null) {
        trace("init: refreshing");
        try {
          await refreshOnce(false);
        } catch (e) {
          emit(e);
          refresh(false);
        }
      }
    } finally {
      loading = 0;
      schedule();
      f(LOADED, byCode);
      loaded();
    }
  };

  // ---- other tabs and the browser ----
  const on = (target, name, h) => {
    if (!target) return;
    target.addEventListener(name, h);
    offs.push(() => target.removeEventListener(name, h));
  };
  // Another tab changed the shared localStorage: follow its sign-in, refresh or sign-out
  // (`key == null` is `storage.clear()`).
  on(globalThis.window, "storage", (e) => {
    if (!area || e.storageArea !== area || loading || (e.key != null && e.key != JWT)) return;
    trace("storage event: following another tab");
    set(e.key == null ? null : e.newValue);
  });
  // Another tab wrote the JWT of a shared storage without `storage` events: read it and follow
  // (no event when it is the token this tab already has).
  on(channel, "message", async () => {
    if (loading || disposed) return;
    const t = await read(JWT);
    if (t == session()[1]) return;
    trace("broadcast: following another tab");
    set(t);
  });
  on(globalThis.window, "online", () => {
    wakers.splice(0).forEach((w) => w());
    checkDue();
  });
  on(globalThis.window, "focus", checkDue);
  on(globalThis.document, "visibilitychange", checkDue);
  init();

  return {
    ready,
    /** [signingIn, redirect?] once the first state is known; rejects with a ConvexAuthError. */
    signIn: async (provider, p) => {
      if (provider != null && typeof provider != "string") throw params("`provider` must be a string");
      try {
        p = signInParams(p);
      } catch (m) {
        throw params(m);
      }
      await ready;
      return signInCall(provider ?? undefined, p);
    },
    /** Signs out here and in every tab sharing the storage; deletes the server session. */
    signOut: async () => {
      await ready;
      const t = session()[1];
      f(BUMP);
      await clear();
      set();
      if (t != null) {
        trace("signOut: deleting the server session");
        // The local sign-out is done; the server may be unreachable or the token expired.
        await call("auth:signOut", {}, t).catch(() => {});
      }
    },
    token,
    fetchAccessToken: (a) => {
      let force;
      try {
        force = typeof a == "object" && !!a?.forceRefreshToken;
      } catch {}
      return token(force);
    },
    /** Starts a refresh in the background when the token is due (a timer that slept); cheap otherwise. */
    due: () => now() >= due && checkDue(),
    dispose: () => {
      disposed = 1;
      clearTimeout(timer);
      channel?.close();
      offs.splice(0).forEach((o) => o());
      wakers.splice(0).forEach((w) => w());
    },
  };
};

/** The `token` getter: the current JWT from getSnapshot's cache, after a check that it is not due. */
export const tokenOf = (d, getSnapshot) => (d.due(), getSnapshot().token);

/** signIn as the facade answers it: the driver's [signingIn, redirect] as a SignInResult. */
export const signIn = (d, provider, params) => d.signIn(provider, params).then((r) => signInResult(...r));
