// The executor of the session machine (src/core/machine.rs): carries out the machine's commands
// with the browser's APIs and feeds each completion back to the machine's port
// (src/web/client.rs, `SessionPort`), one call each; and the client's functions that work
// unbound (getSnapshot, subscribe, onChange, fetchAccessToken, fetch). No decision is made here.

import { idbGet, idbSet } from "./idb.js";
import { authError, authFetch, lock, memory, message, params, post, signInParams, storeOp, takeCode, event, within } from "./io.js";

/**
 * The client's functions that work unbound, over its `port` (src/web/client.rs) and `exec`
 * (its executor, below): `{getSnapshot, subscribe, onChange, fetchAccessToken, fetch}`, with
 * what the facade and the client call on them: `token()` (the `token` getter, which first fires
 * the timer named `due` when it is overdue), `signIn(provider, params)` (the facade's signIn:
 * provider and params checked, then the port's signIn; with a token `source`, the source's own
 * signIn with the arguments as given, then the port's `changed()`, which asks the source again
 * and resolves with its token), `stateChanged()` after every new state and
 * `happened(type, error)` for an event. getSnapshot answers from a cache (no call into wasm)
 * until the state changes. The JS listeners are kept here; each is called with no other
 * listener running, in the order they were added (state listeners before event listeners), and
 * one that throws is reported without disturbing the others. An unsubscribe function may be
 * called any number of times.
 */
export const unbound = (port, exec, due, source) => {
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
  const fetchAccessToken = (a) => {
    let force = false;
    try {
      force = typeof a == "object" && !!a?.forceRefreshToken;
    } catch {}
    return port.token(force);
  };
  let attachments = 0;
  return {
    getSnapshot,
    subscribe: listen(states, 1),
    attach: (client) => {
      if (typeof client?.setAuth != "function")
        throw params("attach needs a reactive Convex client (ConvexClient or ConvexReactClient)");
      const id = ++attachments;
      // The client first (the machine may answer with a `watch` through it), then the machine.
      try {
        exec.attach(id, client, fetchAccessToken);
      } catch (e) {
        throw params("attach: the client's setAuth threw: " + message(e));
      }
      port.attached(id);
      let attached = 1;
      return () => {
        if (attached) exec.detach(id), port.detached(id);
        attached = 0;
      };
    },
    onChange: listen(events),
    fetchAccessToken,
    fetch: authFetch(port),
    token: () => (exec.overdue(due), getSnapshot().token),
    signIn: async (provider, p) => {
      if (source) {
        if (!source.signIn) throw authError("The tokenSource has no `signIn`", "InvalidOptions", false);
        try {
          await source.signIn(provider, p);
        } catch (e) {
          throw authError(message(e), "Network", true);
        }
        return { signingIn: (await port.changed()) != null };
      }
      if (provider != null && typeof provider != "string") throw params("`provider` must be a string");
      try {
        p = signInParams(p);
      } catch (m) {
        throw params(m);
      }
      return port.signIn(provider ?? undefined, p);
    },
    stateChanged: () => {
      snapshot = undefined;
      tell(states, getSnapshot());
    },
    happened: (type, error) => tell(events, event(type, getSnapshot(), error)),
  };
};

/**
 * The executor of one client. The session machine (src/core/machine.rs) decides; the client
 * (src/web/client.rs) hands each of its commands to a method here, which carries it out with
 * the browser's APIs and feeds the completion back to `port` with one call. Nothing here
 * decides what the session does: no state but the I/O's own (the store in use, timers, the held
 * lock, the BroadcastChannel).
 *
 * `url` is the deployment; `store` the storage adapter; `keys` the storage key of each slot, by
 * slot name (`jwt`, `refreshToken`, `verifier`, ...); `area` the localStorage object whose
 * `storage` events report other tabs' writes of the JWT (undefined for other storages);
 * `announce` whether the tabs sharing the storage announce their writes on a BroadcastChannel
 * (named after the JWT's key); `handle` and `replace` are the shouldHandleCode and replaceURL
 * options; `source` the tokenSource option (undefined without one), whose `subscribe` reports
 * its changes. The hand-over copy of the JWT is the IndexedDB record `handover:<the JWT's key>`.
 */
export const executor = (port, url, store, keys, area, announce, handle, replace, source) => {
  const jwtKey = keys.jwt;
  const copyKey = "handover:" + jwtKey;
  let disposed, channel;
  const timers = {};
  const clients = {}; // the attached reactive clients, by attachment
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
    if (announce) channel = new BroadcastChannel("convex-auth-wasm:" + jwtKey);
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
  queueMicrotask(() => {
    feed(() => port.start());
    // The token source's changes, unless the client was freed meanwhile.
    if (disposed) return;
    try {
      const off = source?.subscribe?.(() => feed(() => port.sourceChanged()));
      if (typeof off == "function") offs.push(off);
    } catch (e) {
      console.error("[convex-auth-wasm] tokenSource.subscribe threw:", e);
    }
  });

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
    /** Reads the slots named in `slots`, one after the other (and the hand-over copy): port.stored(op, values by slot name, copy). */
    read: async (op, slots, copy, ms) => {
      const values = {};
      const read = async () => {
        for (const slot of slots) values[slot] = await storeOp(store, "getItem", keys[slot], undefined, ms);
      };
      if (!(await steps(op, read))) return;
      const held = copy ? await idbGet(copyKey).catch(() => {}) : undefined;
      feed(() => port.stored(op, values, typeof held == "string" ? held : undefined));
    },
    /** Writes `values` (by slot name, in their order; null removes), then the hand-over copy of the JWT: port.written(op). */
    write: async (op, values, copy, ms) => {
      const write = async () => {
        for (const slot in values) await set(keys[slot], values[slot], ms);
      };
      if (!(await steps(op, write))) return;
      if (copy) await idbSet(copyKey, values.jwt ?? undefined).catch(() => {});
      feed(() => port.written(op));
    },
    /** Goes on with a memory store holding `values` (by slot name); the machine stops following other tabs. */
    useMemory: (values) => {
      store = memory();
      for (const slot in values) if (values[slot] != null) store.setItem(keys[slot], values[slot]);
    },
    announce: () => {
      try {
        channel?.postMessage("written");
      } catch {}
    },
    /** Calls the function `path` of `kind` with `args`: port.answered, or port.unreachable(op, timedOut, message). */
    post: (op, kind, path, args, bearer, ms) =>
      post(url, kind, path, args, bearer, ms).then(
        (r) => feed(() => port.answered(op, r.status, r.body)),
        (e) => feed(() => port.unreachable(op, e.timedOut, e.message)),
      ),
    /**
     * Calls the token source, `signOut()` or else `fetchToken({forceRefreshToken: force})`:
     * port.sourceAnswered(op, what it gave), or port.sourceFailed(op, timedOut, message).
     */
    source: (op, signOut, force, ms) =>
      within(() => (signOut ? source.signOut() : source.fetchToken({ forceRefreshToken: force })), ms, "The tokenSource").then(
        (value) => feed(() => port.sourceAnswered(op, value)),
        (e) => feed(() => port.sourceFailed(op, !!e?.timedOut, message(e))),
      ),
    /** Takes the page URL's parameters `code` and `error`: port.codeTaken(op, code, error). */
    takeCode: (op, code, error) =>
      takeCode(handle, replace, code, error).then((taken) => feed(() => port.codeTaken(op, taken?.code, taken?.error))),
    /** Waits for the WebAuthn ceremony `running` (webauthn.js): port.ceremonyDone(op, credential) or port.ceremonyFailed(op, name, message). */
    ceremony: (op, running) =>
      running.then(
        (credential) => feed(() => port.ceremonyDone(op, credential)),
        (e) => feed(() => port.ceremonyFailed(op, e.name, e.message)),
      ),
    /** Gives the reactive client `client` the token fetcher: port.verdict(id, accepted) on each of its verdicts. */
    attach: (id, client, fetcher) => {
      clients[id] = () => client.setAuth(fetcher, (accepted) => feed(() => port.verdict(id, !!accepted)));
      clients[id].client = client;
      clients[id]();
    },
    /** Gives the attached client `id` the token fetcher again (the session started or ended). */
    reauthenticate: (id) => clients[id]?.(),
    /**
     * Subscribes to the query `path` through the attached client `id` (ConvexClient's onUpdate,
     * ConvexReactClient's watchQuery): port.watched(id, value) for each value.
     */
    watch: (id, path) => {
      const client = clients[id]?.client;
      const tell = (value) => value !== undefined && feed(() => port.watched(id, value));
      try {
        if (client?.onUpdate) clients[id].off = client.onUpdate(path, {}, tell, () => {});
        else if (client?.watchQuery) {
          const watch = client.watchQuery(path, {});
          clients[id].off = watch.onUpdate(() => {
            try {
              tell(watch.localQueryResult());
            } catch {}
          });
        }
      } catch {}
    },
    /** Takes the token fetcher back from the attached client `id` (ConvexClient has no clearAuth: it is given a fetcher of no token). */
    detach: (id) => {
      const client = clients[id]?.client;
      try {
        clients[id]?.off?.();
        client?.clearAuth ? client.clearAuth() : client?.setAuth(async () => null);
      } catch {}
      delete clients[id];
    },
    /** Takes the Web Lock `name` (waiting at most `ms`): port.locked(op, granted). */
    lock: (op, name, ms) =>
      lock(name, ms).then((release) => {
        // A lock granted after dispose() is given back at once.
        if (disposed) return release?.();
        releases[op] = release;
        feed(() => port.locked(op, !!release));
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
    overdue: (name) => {
      if (!(Date.now() >= deadlines[name])) return;
      clearTimeout(timers[name]);
      fire(name);
    },
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
