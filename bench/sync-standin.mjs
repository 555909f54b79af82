// A stand-in for Convex's WebSocket sync endpoint (`/api/<version>/sync`), for bench/run.mjs
// only: the local v2 backend (www/v2/backend) speaks the HTTP API but not the sync protocol, and
// the official client's per-load refresh is triggered by the sync server's confirmation of the
// cached token (convex's AuthenticationManager.onTransition). This answers the subset a
// `ConvexClient` with auth uses, deciding nothing itself:
//   - Authenticate (User): the token is checked by the backend (GET /whoami with the Bearer,
//     which verifies it as the deployment does); 200 → a Transition that bumps the identity
//     version (the confirmation), otherwise AuthError. Authenticate (None): a Transition.
//   - ModifyQuerySet: each added query runs on the backend's HTTP API (POST /api/query) with
//     the connection's current token; its result goes out in the Transition.
//   - Mutation / Action: refused (the bench pages call them over HTTP).
// Its own calls to the backend (`/whoami`, queries) are in the backend's request log; the
// bench counts them apart from the client's.
import { WebSocketServer } from "ws";

// Convex encodes timestamps as u64 little-endian, base64.
const u64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b.toString("base64");
};

export async function startSyncStandIn(backendUrl) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve, reject) => server.once("listening", resolve).once("error", reject));
  const stats = { connections: 0, authenticate: 0, confirmed: 0, rejected: 0, queries: 0 };

  server.on("connection", (socket, req) => {
    if (!/^\/api\/[^/]+\/sync$/.test(new URL(req.url, "http://x").pathname)) return socket.close(1008, "not a sync path");
    stats.connections++;
    const version = { querySet: 0, identity: 0, ts: 0 };
    let token = null;
    const send = (message) => socket.readyState === socket.OPEN && socket.send(JSON.stringify(message));
    const transition = (end, modifications = []) => {
      const start = { ...version };
      Object.assign(version, end, { ts: version.ts + 1 });
      send({
        type: "Transition",
        startVersion: { ...start, ts: u64(start.ts) },
        endVersion: { ...version, ts: u64(version.ts) },
        modifications,
      });
    };
    const runQuery = async ({ queryId, udfPath, args, componentPath }) => {
      stats.queries++;
      const response = await fetch(`${backendUrl}/api/query`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ path: udfPath, args: args[0] ?? {}, format: "json", ...(componentPath ? { componentPath } : {}) }),
      });
      const body = await response.json().catch(() => ({}));
      return body.status === "success"
        ? { type: "QueryUpdated", queryId, value: body.value ?? null, logLines: [], journal: null }
        : { type: "QueryFailed", queryId, errorMessage: body.errorMessage ?? body.message ?? `HTTP ${response.status}`, logLines: [], journal: null };
    };
    const handle = async (message) => {
      switch (message.type) {
        case "Connect":
        case "Event":
          return;
        case "ModifyQuerySet": {
          const modifications = [];
          for (const m of message.modifications) {
            if (m.type === "Add") modifications.push(await runQuery(m));
            else if (m.type === "Remove") modifications.push({ type: "QueryRemoved", queryId: m.queryId });
          }
          return transition({ querySet: message.newVersion }, modifications);
        }
        case "Authenticate": {
          stats.authenticate++;
          if (message.tokenType !== "User") {
            token = null;
            return transition({ identity: message.baseVersion + 1 });
          }
          const response = await fetch(`${backendUrl}/whoami`, { headers: { authorization: `Bearer ${message.value}` } });
          await response.arrayBuffer();
          if (response.status !== 200) {
            stats.rejected++;
            return send({ type: "AuthError", error: `the backend answered ${response.status} to the token`, baseVersion: message.baseVersion, authUpdateAttempted: true });
          }
          stats.confirmed++;
          token = message.value;
          return transition({ identity: message.baseVersion + 1 });
        }
        case "Mutation":
        case "Action":
          return send({
            type: message.type === "Mutation" ? "MutationResponse" : "ActionResponse",
            requestId: message.requestId,
            success: false,
            result: "the bench's sync stand-in runs no mutations or actions",
            logLines: [],
          });
        default:
          return;
      }
    };
    // One message at a time, in order, as the versions require.
    let queue = Promise.resolve();
    socket.on("message", (data) => {
      const message = JSON.parse(String(data));
      queue = queue.then(() => handle(message)).catch((error) => send({ type: "FatalError", error: String(error) }));
    });
  });

  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}
