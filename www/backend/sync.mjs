// Convex's WebSocket sync protocol (`/api/<version>/sync`), the subset the official `convex`
// 1.48 / 1.51 browser clients (`ConvexClient`, `ConvexReactClient`) speak, shared by the local
// backends of both Convex Auth generations. Like http.mjs it imports nothing beyond Node: each
// backend hands in its own pinned pieces (the `ws` WebSocketServer class, its Bearer check
// `authenticate`, its `callFunction` and `jsonToConvex` from its `convex/values`).
//
// The rules follow the client's code (convex/src/browser/sync: protocol.ts, client.ts,
// local_state.ts, remote_query_set.ts, authentication_manager.ts, request_manager.ts) and the
// behaviour of Convex's own sync worker:
// - Versions. Every Transition starts at the version the previous one ended at (first one:
//   querySet 0, identity 0, ts 0) and ends at {querySet: the client's latest ModifyQuerySet
//   newVersion, identity: the client's latest identity version, ts: the deployment's latest
//   commit timestamp}. A ModifyQuerySet whose baseVersion is not the last newVersion is a
//   FatalError, as on the cloud.
// - Timestamps are u64 nanoseconds since the epoch (little-endian, base64 on the wire), one
//   counter per backend that only grows. A successful MutationResponse carries the commit's ts
//   and is sent before any Transition reaching it (the client resolves the mutation on the first
//   Transition at or past it, so that it reads its own write).
// - Queries run with the connection's identity; a Transition carries only the results that
//   changed since the last one sent (and QueryRemoved for removed queries). After every commit
//   anywhere (sync or HTTP), every connection re-runs its queries.
// - Authenticate (User) is checked with the backend's own Bearer check. A refused token gets
//   AuthError {baseVersion: the identity version of the last Transition sent,
//   authUpdateAttempted: true}, then the socket closes, as the cloud does. An accepted token's
//   `exp` arms a timer: when it passes before another Authenticate, AuthError with
//   authUpdateAttempted false, then close (the cloud does that on the next function call with the
//   expired identity). "None" drops the identity; "Admin" is refused.
// - Mutations of one connection run one at a time, in order; actions run concurrently. A
//   mutation the client re-sends after a reconnect (same session id and request id) is not run
//   again: the first run's answer is sent again.

const HEARTBEAT_MS = 15_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const DEDUP_PER_SESSION = 256;
const DEDUP_SESSIONS = 1024;
const CLOSE_INTERNAL_ERROR = 1011;

/** Convex's u64 wire encoding: 8 bytes little-endian, base64. */
export function encodeTs(ts) {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt.asUintN(64, ts));
  return bytes.toString("base64");
}

export function decodeTs(encoded) {
  const bytes = Buffer.from(String(encoded), "base64");
  if (bytes.length !== 8) throw new Error("a timestamp is 8 bytes");
  return bytes.readBigUInt64LE();
}

/** The `exp` claim of a JWT (seconds), or null; the signature was checked by `authenticate`. */
function expiryOf(jwt) {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
    return Number.isFinite(payload?.exp) ? payload.exp : null;
  } catch {
    return null;
  }
}

class ProtocolError extends Error {}

function checkPath(udfPath) {
  if (typeof udfPath !== "string" || udfPath === "") {
    throw new ProtocolError("WSMessageInvalidJson: udfPath is a non-empty string");
  }
}

/**
 * The sync endpoint. Options:
 * - WebSocketServer: the `ws` package's class.
 * - authenticate(header): the backend's Bearer check: null, {identity}, or {code, message}.
 * - callFunction(kind, path, args, identity, request): runs a public function ("query",
 *   "mutation", "action") with decoded args; answers the HTTP API's result object
 *   ({status: "success", value, logLines} or {status: "error", errorMessage, errorData?,
 *   logLines}, values convex-encoded JSON). `request` is the upgrade request.
 * - jsonToConvex: decodes the convex-encoded args the client sends.
 * - onCall({kind, path, args, hasAuth}) (optional): told of every mutation and action run over
 *   sync when it starts (the backend's request log); it may answer a function that is called
 *   with `success` (a boolean) when the call completes.
 * Returns {handleUpgrade(req, socket, head), committed(), reset(), close()}.
 */
export function createSyncEndpoint({ WebSocketServer, authenticate, callFunction, jsonToConvex, onCall }) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const connections = new Set();
  // requestId → Promise<MutationResponse> per client session id, for re-sent mutations.
  let sessions = new Map();
  let latestTs = BigInt(Date.now()) * 1_000_000n;

  /** A new commit timestamp: wall-clock nanoseconds, strictly after the previous one. */
  function nextTs() {
    const now = BigInt(Date.now()) * 1_000_000n;
    latestTs = now > latestTs ? now : latestTs + 1n;
    return latestTs;
  }

  /** Every connection re-runs its queries and sends what changed. */
  function notifyAll() {
    for (const connection of connections) connection.scheduleUpdate(false);
  }

  /** After a write anywhere: a new timestamp, and every connection re-runs its queries. */
  function committed() {
    nextTs();
    notifyAll();
  }

  function sessionCache(sessionId) {
    if (typeof sessionId !== "string") return null;
    let cache = sessions.get(sessionId);
    if (!cache) {
      cache = new Map();
      sessions.set(sessionId, cache);
      if (sessions.size > DEDUP_SESSIONS) sessions.delete(sessions.keys().next().value);
    } else {
      // Most recently used last.
      sessions.delete(sessionId);
      sessions.set(sessionId, cache);
    }
    return cache;
  }

  async function run(kind, path, args, identity, request) {
    try {
      return await callFunction(kind, path, args, identity ?? undefined, request);
    } catch (error) {
      console.error(`sync: ${kind} ${path} failed:`, error);
      return { status: "error", errorMessage: `Server Error: ${error?.message ?? error}`, logLines: [] };
    }
  }

  function decodeArgs(args) {
    const value = jsonToConvex(Array.isArray(args) ? (args[0] ?? {}) : (args ?? {}));
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new Error("The arguments of a function are an object.");
    }
    return value;
  }

  const componentError = (componentPath) =>
    componentPath !== undefined && componentPath !== null && componentPath !== ""
      ? "Only admin or system users can call functions on non-root components directly"
      : null;

  class Connection {
    constructor(ws, request) {
      this.ws = ws;
      this.request = request;
      this.closed = false;
      // The version of the last Transition sent.
      this.version = { querySet: 0, identity: 0, ts: 0n };
      // The versions the client's messages have reached.
      this.received = { querySet: 0, identity: 0 };
      this.pendingModifications = [];
      this.pendingAuth = undefined; // {identity, exp} waiting for the next Transition
      this.auth = { identity: null, exp: null };
      this.queries = new Map(); // queryId → {udfPath, args, componentPath, hash}
      this.sessionId = undefined;
      this.clientClockSkew = undefined;
      this.updateScheduled = false;
      this.updateForced = false;
      this.updating = false;
      this.inbox = Promise.resolve();
      this.mutations = Promise.resolve();
      this.expiryTimer = null;
      this.authSerial = 0;
      this.lastSent = Date.now();
      this.heartbeat = setInterval(() => {
        if (Date.now() - this.lastSent >= HEARTBEAT_MS) this.send({ type: "Ping" });
      }, HEARTBEAT_MS);
      this.heartbeat.unref?.();

      ws.on("message", (data, isBinary) => {
        let message;
        try {
          if (isBinary) throw new Error("binary frame");
          message = JSON.parse(String(data));
          if (message === null || typeof message !== "object") throw new Error("not an object");
        } catch (error) {
          return this.fatal(`WSMessageInvalidJson: Received Invalid JSON on websocket: ${error.message}`);
        }
        this.inbox = this.inbox
          .then(() => (this.closed ? undefined : this.handle(message)))
          .catch((error) => this.failed(error));
      });
      ws.on("close", () => this.dispose());
      ws.on("error", () => this.dispose());
    }

    send(message) {
      if (this.closed || this.ws.readyState !== 1 /* OPEN */) return;
      this.lastSent = Date.now();
      this.ws.send(JSON.stringify(message));
    }

    dispose() {
      this.closed = true;
      clearInterval(this.heartbeat);
      clearTimeout(this.expiryTimer);
      connections.delete(this);
    }

    /** Sends a last message (if any), then closes the socket. */
    closeWith(message, code, reason) {
      if (this.closed) return;
      if (message) this.send(message);
      this.dispose();
      if (code === undefined) this.ws.close();
      else this.ws.close(code, reason);
    }

    fatal(error) {
      this.closeWith({ type: "FatalError", error });
    }

    authError(error, authUpdateAttempted) {
      this.closeWith({ type: "AuthError", error, baseVersion: this.version.identity, authUpdateAttempted });
    }

    failed(error) {
      if (error instanceof ProtocolError) return this.fatal(error.message);
      console.error("sync: closing a connection after an internal error:", error);
      this.closeWith(null, CLOSE_INTERNAL_ERROR, "InternalServerError");
    }

    /** The identity a function call made now runs with (a pending Authenticate counts). */
    callIdentity() {
      const auth = this.pendingAuth ?? this.auth;
      if (auth.identity && auth.exp !== null && Date.now() >= auth.exp * 1000) {
        this.authError("Convex token identity expired", false);
        return undefined;
      }
      return auth.identity;
    }

    armExpiry(exp) {
      clearTimeout(this.expiryTimer);
      this.expiryTimer = null;
      if (exp === null) return;
      const serial = this.authSerial;
      const check = () => {
        if (this.closed || serial !== this.authSerial) return;
        const left = exp * 1000 - Date.now();
        if (left > 0) {
          this.expiryTimer = setTimeout(check, Math.min(left, MAX_TIMER_MS));
          this.expiryTimer.unref?.();
          return;
        }
        this.authError("Convex token identity expired", false);
      };
      check();
    }

    async handle(message) {
      switch (message.type) {
        case "Connect": {
          if (typeof message.sessionId === "string") this.sessionId = message.sessionId;
          if (Number.isFinite(message.clientTs)) this.clientClockSkew = Math.round(message.clientTs - Date.now());
          // The cloud refuses a client that saw a later timestamp than it knows; this backend
          // moves its clock forward instead (it may have restarted under a still-open page).
          if (message.maxObservedTimestamp !== undefined && message.maxObservedTimestamp !== null) {
            let observed;
            try {
              observed = decodeTs(message.maxObservedTimestamp);
            } catch {
              throw new ProtocolError("WSMessageInvalidJson: maxObservedTimestamp is not a u64");
            }
            if (observed > latestTs) latestTs = observed;
          }
          return;
        }
        case "ModifyQuerySet": {
          const { baseVersion, newVersion, modifications } = message;
          if (baseVersion !== this.received.querySet) {
            throw new ProtocolError(
              `BaseVersionMismatch: Base version ${baseVersion} passed up doesn't match the current version ${this.received.querySet}`,
            );
          }
          if (!Number.isInteger(newVersion) || newVersion <= baseVersion || !Array.isArray(modifications)) {
            throw new ProtocolError("WSMessageInvalidJson: a ModifyQuerySet moves to a later version");
          }
          for (const m of modifications) {
            if (m?.type === "Add") checkPath(m.udfPath);
            else if (m?.type !== "Remove") {
              throw new ProtocolError(`WSMessageInvalidJson: unknown query set modification ${JSON.stringify(m?.type)}`);
            }
          }
          this.pendingModifications.push(...modifications);
          this.received.querySet = newVersion;
          return this.scheduleUpdate(true);
        }
        case "Authenticate":
          return await this.authenticate(message);
        case "Mutation": {
          checkPath(message.udfPath);
          const identity = this.callIdentity();
          if (identity === undefined) return;
          this.mutations = this.mutations.then(() => this.mutation(message, identity)).catch((error) => this.failed(error));
          return;
        }
        case "Action": {
          checkPath(message.udfPath);
          const identity = this.callIdentity();
          if (identity === undefined) return;
          this.action(message, identity).catch((error) => this.failed(error));
          return;
        }
        case "Event":
          return;
        default:
          throw new ProtocolError(`WSMessageInvalidJson: unknown message type ${JSON.stringify(message.type)}`);
      }
    }

    async authenticate(message) {
      let auth;
      if (message.tokenType === "None") {
        auth = { identity: null, exp: null };
      } else if (message.tokenType === "User") {
        const value = typeof message.value === "string" ? message.value : "";
        const result = await authenticate(`Bearer ${value}`);
        if (this.closed) return;
        if (!result?.identity) {
          return this.authError(result?.message ?? "Could not parse JWT payload.", true);
        }
        auth = { identity: result.identity, exp: expiryOf(value) };
      } else {
        // Admin keys (and anything else) are not accepted by this backend.
        return this.authError("This deployment accepts no admin key over the sync protocol.", true);
      }
      if (message.baseVersion !== this.received.identity) {
        throw new Error(`identity base version ${message.baseVersion} is not ${this.received.identity}`);
      }
      this.received.identity += 1;
      this.pendingAuth = auth;
      this.authSerial += 1;
      this.armExpiry(auth.exp);
      this.scheduleUpdate(true);
    }

    async mutation(message, identity) {
      const { requestId, udfPath, args, componentPath } = message;
      const cache = sessionCache(this.sessionId);
      const earlier = cache?.get(requestId);
      let response;
      if (earlier) {
        response = await earlier;
      } else {
        const answer = this.runMutation(udfPath, args, componentPath, identity);
        cache?.set(requestId, answer);
        if (cache && cache.size > DEDUP_PER_SESSION) cache.delete(cache.keys().next().value);
        response = await answer;
        // Only committed mutations are remembered; a failed one runs again when re-sent.
        if (!response.success && cache?.get(requestId) === answer) cache.delete(requestId);
      }
      // The answer goes out before any Transition that this connection computes from now on,
      // and the forced Transition below reaches the commit's timestamp.
      this.send({ ...response, requestId });
      if (!earlier && response.success) notifyAll();
      this.scheduleUpdate(true);
    }

    /** Runs a mutation; on success it takes the commit's timestamp. */
    async runMutation(udfPath, args, componentPath, identity) {
      let result;
      let decoded;
      try {
        decoded = decodeArgs(args);
      } catch (error) {
        result = { status: "error", errorMessage: error.message, logLines: [] };
      }
      const refused = componentError(componentPath);
      if (refused) result = { status: "error", errorMessage: refused, logLines: [] };
      const done = onCall?.({ kind: "mutation", path: udfPath, args: decoded, hasAuth: !!identity });
      result ??= await run("mutation", udfPath, decoded, identity, this.request);
      const success = result.status === "success";
      if (typeof done === "function") done(success);
      if (success) {
        const ts = nextTs();
        return { type: "MutationResponse", success: true, result: result.value ?? null, ts: encodeTs(ts), logLines: result.logLines ?? [] };
      }
      return {
        type: "MutationResponse",
        success: false,
        result: result.errorMessage ?? "Server Error",
        ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
        logLines: result.logLines ?? [],
      };
    }

    async action(message, identity) {
      const { requestId, udfPath, args, componentPath } = message;
      let result;
      let decoded;
      try {
        decoded = decodeArgs(args);
      } catch (error) {
        result = { status: "error", errorMessage: error.message, logLines: [] };
      }
      const refused = componentError(componentPath);
      if (refused) result = { status: "error", errorMessage: refused, logLines: [] };
      const ran = result === undefined;
      const done = onCall?.({ kind: "action", path: udfPath, args: decoded, hasAuth: !!identity });
      result ??= await run("action", udfPath, decoded, identity, this.request);
      const success = result.status === "success";
      if (typeof done === "function") done(success);
      this.send({
        type: "ActionResponse",
        requestId,
        success,
        result: success ? (result.value ?? null) : (result.errorMessage ?? "Server Error"),
        ...(!success && result.errorData !== undefined ? { errorData: result.errorData } : {}),
        logLines: result.logLines ?? [],
      });
      // An action may have written through mutations of its own.
      if (ran) committed();
      this.scheduleUpdate(true);
    }

    /**
     * Asks for a Transition. `forced`: send one even when no result changed (the client waits
     * for a new version: a query set or identity change, or its own mutation's timestamp).
     */
    scheduleUpdate(forced) {
      if (this.closed) return;
      this.updateScheduled = true;
      this.updateForced ||= forced;
      if (!this.updating) {
        this.updating = true;
        this.updateLoop()
          .catch((error) => this.failed(error))
          .finally(() => {
            this.updating = false;
          });
      }
    }

    async updateLoop() {
      while (this.updateScheduled && !this.closed) {
        const forced = this.updateForced;
        this.updateScheduled = false;
        this.updateForced = false;
        await this.update(forced);
      }
    }

    async update(forced) {
      const start = this.version;
      const end = { querySet: this.received.querySet, identity: start.identity, ts: latestTs };
      if (this.pendingAuth !== undefined) {
        this.auth = this.pendingAuth;
        this.pendingAuth = undefined;
        end.identity = this.received.identity;
      }
      const modifications = new Map();
      for (const m of this.pendingModifications.splice(0)) {
        if (m.type === "Add") {
          this.queries.set(m.queryId, { udfPath: m.udfPath, args: m.args, componentPath: m.componentPath, hash: null });
        } else {
          this.queries.delete(m.queryId);
          modifications.set(m.queryId, { type: "QueryRemoved", queryId: m.queryId });
        }
      }
      const { identity, exp } = this.auth;
      if (identity && exp !== null && Date.now() >= exp * 1000) {
        return this.authError("Convex token identity expired", false);
      }
      const entries = [...this.queries];
      const results = await Promise.all(entries.map(([queryId, query]) => this.runQuery(queryId, query, identity)));
      if (this.closed) return;
      entries.forEach(([queryId, query], i) => {
        const modification = results[i];
        const { journal: _journal, ...compared } = modification;
        const hash = JSON.stringify(compared);
        if (hash === query.hash) return;
        query.hash = hash;
        modifications.set(queryId, modification);
      });
      const moved = end.querySet !== start.querySet || end.identity !== start.identity;
      if (!forced && !moved && modifications.size === 0) return;
      this.version = end;
      this.send({
        type: "Transition",
        startVersion: { ...start, ts: encodeTs(start.ts) },
        endVersion: { ...end, ts: encodeTs(end.ts) },
        modifications: [...modifications.values()],
        ...(this.clientClockSkew !== undefined ? { clientClockSkew: this.clientClockSkew } : {}),
        serverTs: Date.now() * 1_000_000,
      });
    }

    async runQuery(queryId, query, identity) {
      let result;
      const refused = componentError(query.componentPath);
      if (refused) result = { status: "error", errorMessage: refused, logLines: [] };
      if (!result) {
        try {
          result = await run("query", query.udfPath, decodeArgs(query.args), identity, this.request);
        } catch (error) {
          result = { status: "error", errorMessage: error.message, logLines: [] };
        }
      }
      if (result.status === "success") {
        return { type: "QueryUpdated", queryId, value: result.value ?? null, logLines: result.logLines ?? [], journal: null };
      }
      return {
        type: "QueryFailed",
        queryId,
        errorMessage: result.errorMessage ?? "Server Error",
        logLines: result.logLines ?? [],
        ...(result.errorData !== undefined ? { errorData: result.errorData } : {}),
        journal: null,
      };
    }
  }

  return {
    /** Takes an HTTP upgrade for `/api/<version>/sync`; answers 404 to any other path. */
    handleUpgrade(req, socket, head) {
      const { pathname } = new URL(req.url ?? "/", "http://localhost");
      if (!/^\/api\/[^/]+\/sync$/.test(pathname)) {
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        connections.add(new Connection(ws, req));
      });
    },
    committed,
    /** The database was emptied: forget re-sent mutations, re-run every subscription. */
    reset() {
      sessions = new Map();
      committed();
    },
    /** Closes every sync socket (the backend is stopping). */
    close() {
      for (const connection of [...connections]) {
        connection.dispose();
        connection.ws.terminate();
      }
      wss.close();
    },
  };
}
