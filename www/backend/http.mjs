// HTTP plumbing shared by the local backends of both Convex Auth generations (www/backend for v1,
// www/v2/backend for v2): CORS headers, JSON answers, reading a bounded body, resetting a
// connection for the injected faults, the fault list of `/_test/faults` (BACKEND.md), and the
// client id of a token request to the OAuth mock. No dependency beyond Node, so that each
// backend keeps its own pinned packages.

const MAX_BODY = 1 << 20;

export function corsHeaders(req) {
  return {
    "Access-Control-Allow-Origin": req.headers.origin ?? "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, Convex-Client",
    "Cross-Origin-Resource-Policy": "cross-origin",
    Vary: "Origin",
  };
}

export function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...(res.corsHeaders ?? {}),
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  res.end(body);
  return status;
}

/** Resets the TCP connection (RST) so the client sees a network error, not an answer. */
export function resetConnection(res) {
  const socket = res.socket;
  if (socket && typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
  else socket?.destroy();
  return null;
}

/** The request's body as a Buffer, or null when it is larger than 1 MiB. */
export function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        resolve(null);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The fault that a `POST /_test/faults` body `f` describes, `{path, kind, count, status?,
 * delayMs?}`, or null when it is malformed.
 */
export function parseFault(f) {
  const kinds = ["network", "lost-response", "status", "delay"];
  const count = f?.count ?? 1;
  if (
    !f ||
    typeof f.path !== "string" ||
    !kinds.includes(f.kind) ||
    !Number.isInteger(count) ||
    count < 1 ||
    (f.kind === "status" && !(Number.isInteger(f.status) && f.status >= 100 && f.status <= 599)) ||
    (f.kind === "delay" && !(Number.isFinite(f.delayMs) && f.delayMs >= 0))
  ) {
    return null;
  }
  const fault = { path: f.path, kind: f.kind, count };
  if (f.kind === "status") fault.status = f.status;
  if (f.kind === "delay") fault.delayMs = f.delayMs;
  return fault;
}

/** Takes one use of the first pending fault for `path` out of `faults` (null when none). */
export function takeFault(faults, path) {
  const fault = faults.find((f) => f.path === path && f.count > 0);
  if (!fault) return null;
  fault.count -= 1;
  if (fault.count === 0) faults.splice(faults.indexOf(fault), 1);
  return fault;
}

/** The OAuth client id of a token request to the mock: from Basic auth, else the form body. */
export function tokenClientId(req) {
  const header = req.headers.authorization;
  if (typeof header === "string" && header.startsWith("Basic ")) {
    const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
    return decodeURIComponent(decoded.split(":")[0]);
  }
  return req.body?.client_id;
}
