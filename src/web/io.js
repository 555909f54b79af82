// The JS side of the wasm client, I/O only: the browser's asynchronous APIs as Promises
// (IndexedDB, WebCrypto, Web Locks, fetch with a timeout), the storages as adapter objects with a
// time limit, the constructor's option checks, auth.fetch, the JS values the client hands out
// (state, events, errors, its unbound functions), and the executor (`executor`), which carries
// out the session machine's commands and feeds each completion back to the machine's port. What
// the session does (what a stored token is worth, when to refresh, which token to adopt, what an
// answer means, who signs out) is decided by the machine in Rust (src/core/machine.rs).
// wasm-bindgen ships this file with the wasm as a snippet (the npm web build bundles it into the
// glue).

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
const idbGet = (key) => run("readonly", (s) => s.get(key));

/** Stores `value` under `key` (deletes it when undefined); resolves once committed. */
const idbSet = (key, value) =>
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
 * to `<base>/api/action`, with `Authorization: Bearer <bearer>` when given. Resolves with the
 * answer `{status, body}` (`body`: the parsed JSON, undefined when it is not JSON); the request
 * and the read of the answer share `ms`. Rejects with a retryable ConvexAuthError: Network when
 * the server could not be reached or the connection broke while reading, Timeout.
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
    return { status: r.status, body: jsonParse(await r.text()) };
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

/** A pending Promise with the functions that settle it: `{promise, resolve, reject}`. */
export const deferred = () => {
  const d = {};
  d.promise = new Promise((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
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
const memory = (key, value) => {
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
const storeOp = (o, op, key, value, ms) => {
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
 * The constructor's options, checked and with their defaults: `{url, storage, storageNamespace,
 * shouldHandleCode, replaceURL, navigate, verbose}`, where `storage` is a built-in name or the
 * adapter object (whose methods JsStorage::new checks). Throws the message of the first problem.
 */
export const options = (o) => {
  const fail = (m) => {
    throw m;
  };
  if (!o || typeof o != "object") fail("Options must be an object with a `url`");
  if (Object.keys(o).some((k) => !OPTIONS.includes(k))) fail("Unknown option (allowed: " + OPTIONS.join(", ") + ")");
  const { url, storage = STORAGES[0], storageNamespace, shouldHandleCode = true, replaceURL, navigate = true, verbose = false } = o;
  if (typeof url != "string") fail("`url` is required and must be a string");
  if (typeof storage == "string") {
    if (!STORAGES.includes(storage)) fail('`storage` must be "' + STORAGES.join('", "') + '" or an adapter object');
  } else if (!storage || typeof storage != "object") fail("`storage` must be a storage name or an adapter object");
  if (storageNamespace !== undefined && typeof storageNamespace != "string") fail("`storageNamespace` must be a string");
  if (typeof shouldHandleCode != "boolean" && typeof shouldHandleCode != "function")
    fail("`shouldHandleCode` must be a boolean or a function");
  if (replaceURL !== undefined && typeof replaceURL != "function") fail("`replaceURL` must be a function");
  if (typeof navigate != "boolean") fail("`navigate` must be a boolean");
  if (typeof verbose != "boolean") fail("`verbose` must be a boolean");
  return { url, storage, storageNamespace, shouldHandleCode, replaceURL, navigate, verbose };
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
const event = (type, state, error) => (error ? { type, state, error } : { type, state });

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
const signInParams = (p) => {
  let e;
  try {
    e = p == null ? [] : p instanceof FormData ? [...p] : typeof p == "object" && !Array.isArray(p) && Object.entries(p);
  } catch {}
  if (!e) throw "`params` must be a FormData or a plain object of strings";
  e = e.filter(([, v]) => v !== undefined);
  if (e.some(([, v]) => typeof v != "string")) throw "Every `params` value must be a string";
  return Object.fromEntries(e);
};

/**
 * The client's functions that work unbound, over its `port` (src/web/client.rs) and
 * `executor`: `{getSnapshot, subscribe, onChange, fetchAccessToken, changed}`. The client calls
 * `changed()` after every new state and `changed(type, error)` for an event. getSnapshot
 * answers from a cache (no call into wasm) until the state changes. The JS listeners are kept
 * here; each is called with no other listener running, in the order they were added (state
 * listeners before event listeners), and one that throws is reported without disturbing the
 * others. An unsubscribe function may be called any number of times.
 */
export const unbound = (port) => {
  let snapshot;
  const getSnapshot = () => (snapshot ??= port.snapshot());
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
  const fetchAccessToken = (a) => {
    let force = false;
    try {
      force = typeof a == "object" && !!a?.forceRefreshToken;
    } catch {}
    return port.token(force);
  };
  return { getSnapshot, subscribe: listen(states, 1), onChange: listen(events), fetchAccessToken, changed };
};

/** The origin of `url` as the browser's URL parser serialises it; undefined for an invalid URL. */
export const originOf = (url) => {
  try {
    return new URL(url).origin;
  } catch {}
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

// ---- the executor: the session machine's commands carried out ----

/** The message of a thrown value: an Error's `message`, or the value itself when a string. */
export const message = (e) => (typeof e == "string" ? e : typeof e?.message == "string" ? e.message : "unknown error");

/**
 * The executor of one client. The session machine (src/core/machine.rs) decides; the client
 * (src/web/client.rs) hands each of its commands to a method here, which carries it out with
 * the browser's APIs and feeds the completion back to `port` with one call. Nothing here
 * decides what the session does: no state but the I/O's own (the store in use, timers, the held
 * lock, the BroadcastChannel).
 *
 * `store` is the storage adapter and `keys` its key names `{jwt, refreshToken, verifier}`;
 * `copyKey` the IndexedDB key of the hand-over copy of the JWT; `area` the localStorage object
 * whose `storage` events report other tabs' writes of the JWT (undefined for other storages);
 * `channelName` names the BroadcastChannel that carries other tabs' announcements (undefined:
 * none); `handle` and `replace` are the shouldHandleCode and replaceURL options.
 */
export const executor = (port, url, store, jwtKey, refreshTokenKey, verifierKey, copyKey, area, channelName, handle, replace) => {
  let disposed, channel;
  const timers = {};
  const releases = {}; // by the op that took the lock
  const deadlines = {};
  const offs = [];
  // Every completion goes through here: none after dispose().
  const feed = (f) => disposed || f();
  const on = (target, name, h) => {
    if (!target) return;
    target.addEventListener(name, h);
    offs.push(() => target.removeEventListener(name, h));
  };
  const fire = (name) => {
    delete deadlines[name];
    feed(() => port.fired(name));
  };
  try {
    if (channelName) channel = new BroadcastChannel(channelName);
  } catch {}
  on(globalThis.window, "storage", (e) => {
    if (area && e.storageArea === area && (e.key == null || e.key == jwtKey))
      feed(() => port.tabWrote(e.key == null ? undefined : (e.newValue ?? undefined)));
  });
  on(channel, "message", () => feed(() => port.tabAnnounced()));
  on(globalThis.window, "online", () => feed(() => port.online()));
  on(globalThis.window, "focus", () => feed(() => port.focused()));
  on(globalThis.document, "visibilitychange", () => feed(() => port.focused()));
  // After the constructor has returned, so that listeners added then hear everything.
  queueMicrotask(() => feed(() => port.start()));

  const get = (wanted, key, ms) => (wanted ? storeOp(store, "getItem", key, undefined, ms) : undefined);
  const set = (key, value, ms) => storeOp(store, value == null ? "removeItem" : "setItem", key, value ?? undefined, ms);
  // Runs the storage steps `f`; a failure of any is the operation's failure.
  const steps = async (op, f) => {
    try {
      await f();
      return true;
    } catch (e) {
      feed(() => port.storageFailed(op, message(e)));
    }
  };
  return {
    /** Reads the keys asked for (and the hand-over copy): port.stored(op, jwt, refreshToken, verifier, copy). */
    read: async (op, jwt, refreshToken, verifier, copy, ms) => {
      const read = async () => {
        jwt = await get(jwt, jwtKey, ms);
        refreshToken = await get(refreshToken, refreshTokenKey, ms);
        verifier = await get(verifier, verifierKey, ms);
      };
      if (!(await steps(op, read))) return;
      const held = copy ? await idbGet(copyKey).catch(() => {}) : undefined;
      feed(() => port.stored(op, jwt, refreshToken, verifier, typeof held == "string" ? held : undefined));
    },
    /** Writes the JWT, then the refresh token (null removes), then the hand-over copy: port.written(op). */
    persist: async (op, jwt, refreshToken, copy, ms) => {
      const write = async () => {
        await set(jwtKey, jwt, ms);
        await set(refreshTokenKey, refreshToken, ms);
      };
      if (!(await steps(op, write))) return;
      if (copy) await idbSet(copyKey, jwt ?? undefined).catch(() => {});
      feed(() => port.written(op));
    },
    /** Writes the OAuth verifier (null removes it): port.written(op). */
    writeVerifier: async (op, verifier, ms) => {
      if (await steps(op, () => set(verifierKey, verifier, ms))) feed(() => port.written(op));
    },
    /** Goes on with a memory store holding these values; no other tab follows it. */
    useMemory: (jwt, refreshToken, verifier) => {
      store = memory();
      if (jwt != null) store.setItem(jwtKey, jwt);
      if (refreshToken != null) store.setItem(refreshTokenKey, refreshToken);
      if (verifier != null) store.setItem(verifierKey, verifier);
      area = undefined;
    },
    announce: () => {
      try {
        channel?.postMessage("jwt");
      } catch {}
    },
    /** Calls the action `path` with the auth:signIn/auth:signOut args: port.answered or port.unreachable. */
    post: (op, path, provider, params, verifier, refreshToken, bearer, ms) =>
      post(url, path, { provider, params, verifier, refreshToken }, bearer, ms).then(
        (r) => feed(() => port.answered(op, r.status, r.body)),
        (e) => feed(() => port.unreachable(op, e)),
      ),
    takeCode: (op) => takeCode(handle, replace).then((code) => feed(() => port.codeTaken(op, code))),
    /** Takes the Web Lock `name` (waiting at most `ms`): port.locked(op, granted). */
    lock: (op, name, ms) =>
      lock(name, ms).then((release) => {
        if (disposed) return release?.();
        releases[op] = release;
        port.locked(op, !!release);
      }),
    /** Releases the lock that `op` took. */
    release: (op) => {
      releases[op]?.();
      delete releases[op];
    },
    setTimer: (name, ms) => {
      clearTimeout(timers[name]);
      deadlines[name] = Date.now() + ms;
      timers[name] = setTimeout(() => fire(name), ms);
    },
    clearTimer: (name) => {
      clearTimeout(timers[name]);
      delete deadlines[name];
    },
    /** Fires the timer `name` now when its deadline has passed (a tab that slept through it). */
    overdue: (name) => Date.now() >= deadlines[name] && (clearTimeout(timers[name]), fire(name)),
    navigate: (to) => {
      try {
        location.href = to;
      } catch {}
    },
    trace: (line) => console.debug("[convex-auth-wasm]", line),
    dispose: () => {
      disposed = 1;
      for (const name in timers) clearTimeout(timers[name]);
      for (const op in releases) releases[op]?.();
      channel?.close();
      offs.splice(0).forEach((off) => off());
    },
  };
};

/** The `token` getter: the current JWT from getSnapshot's cache, after firing an overdue refresh timer. */
export const tokenOf = (exec, getSnapshot, due) => (exec.overdue(due), getSnapshot().token);

/** signIn as the facade answers it: provider and params checked, then the port's signIn. */
export const signIn = async (port, provider, p) => {
  if (provider != null && typeof provider != "string") throw params("`provider` must be a string");
  try {
    p = signInParams(p);
  } catch (m) {
    throw params(m);
  }
  return port.signIn(provider ?? undefined, p);
};
