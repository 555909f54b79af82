// The local Convex Auth v2 backend: the app folder ../convex runs on convex-test with the
// real @convex-dev/auth 2.0.0 components, behind Convex's public HTTP API. This module decides
// nothing about auth: sign-in, tokens and sessions are @convex-dev/auth's. It verifies Bearer
// JWTs the way the Convex backend does (against auth.config.js and the deployment's JWKS),
// routes HTTP actions (the app's and the components' under their prefixes), serves the WebSocket
// sync protocol on the same port (../../backend/sync.mjs), and adds the test-only endpoints of
// BACKEND.md (outbox, OAuth identity, faults, request log).
import { randomUUID } from "node:crypto";
import http from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as jose from "jose";
import { WebSocketServer } from "ws";
import { BRIDGE_MODULE_NAME, installComponentEnv, loadApp } from "./app.mjs";
import { startIdp } from "./idp.mjs";
import { corsHeaders, parseFault, readBody, resetConnection, sendJson, sleep, takeFault } from "../../backend/http.mjs";
import { createSyncEndpoint } from "../../backend/sync.mjs";

const CONVEX_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "convex");
const INTERNAL_HEADER = "x-local-backend-internal";
const GITHUB_CLIENT = { id: "local-github-client", secret: "local-github-secret" };

/**
 * The sign-in methods' functions (module `auth`, the official 2.0 names), for the request
 * log: the method that `provider` names, and `kind` ("code" for an OAuth completion,
 * "signIn" for every other sign-in step, null for account management).
 */
const METHOD_OF_FUNCTION = [
  [/^(signUpWith|completeSignUpWith|signInWith)EmailPassword$|^(start|check|complete)PasswordRecovery$/, "emailPassword", "signIn"],
  [/^changePassword$|^(start|complete)ChangeEmail$/, "emailPassword", null],
  [/^(signUpWith|signInWith)UsernamePassword$/, "usernamePassword", "signIn"],
  [/^signInAnonymously$/, "anonymous", "signIn"],
  [/^startSignInWithGithub$/, "github", "signIn"],
  [/^completeSignInWithGithub$/, "github", "code"],
  [/^(startSignInWith|startAutofillSignInWith|finishSignUpWith|finishSignInWith)UsernamePasskey$/, "usernamePasskey", "signIn"],
];

/** {kind, provider} of a call of the public function `path`, for the request log. */
export function classifyCall(path) {
  const [module, name] = path.split(":");
  if (module !== "auth" || name === undefined) return { kind: null, provider: null };
  if (name === "refreshSession") return { kind: "refresh", provider: null };
  if (name === "signOut") return { kind: "signOut", provider: null };
  for (const [pattern, provider, kind] of METHOD_OF_FUNCTION) {
    if (pattern.test(name)) return { kind, provider };
  }
  return { kind: null, provider: null };
}

/**
 * Starts the OAuth mock and the backend. Options: port (0 = any), host, siteUrl,
 * jwtDurationMs. Resolves to {url, siteUrl, idpUrl, close()}.
 */
export async function startBackend(options = {}) {
  const host = options.host ?? "127.0.0.1";
  const siteUrl = (options.siteUrl ?? "http://localhost:5173").replace(/\/$/, "");

  const idp = await startIdp({ host, githubClientId: GITHUB_CLIENT.id });

  const server = http.createServer();
  server.keepAliveTimeout = 0;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 3210, host, resolve);
  });
  const backendUrl = `http://${host}:${server.address().port}`;

  // The deployment's environment, read by the app when its modules load.
  Object.assign(process.env, {
    CONVEX_CLOUD_URL: backendUrl,
    CONVEX_SITE_URL: backendUrl,
    SITE_URL: siteUrl,
    PASSKEY_RP_ID: "localhost",
    GITHUB_BASE_URL: idp.url,
    GITHUB_API_BASE_URL: idp.apiUrl,
    AUTH_GITHUB_CLIENT_ID: GITHUB_CLIENT.id,
    AUTH_GITHUB_CLIENT_SECRET: GITHUB_CLIENT.secret,
  });
  if (options.jwtDurationMs !== undefined) process.env.JWT_DURATION_MS = String(options.jwtDurationMs);
  else delete process.env.JWT_DURATION_MS;

  const envViews = new Map();
  const componentEnv = installComponentEnv(() => envViews);
  const [{ convexTest }, { anyApi, componentsGeneric }, values] = await Promise.all([
    import("convex-test"),
    import("convex/server"),
    import("convex/values"),
  ]);
  const app = await loadApp(CONVEX_DIR, { rootEnv: () => process.env, cloudUrl: backendUrl, siteUrl: backendUrl });
  for (const component of app.components) envViews.set(component.path, component.env);
  const outboxComponent = app.components.find((c) => c.stub)?.path;
  const httpMounts = app.components
    .filter((c) => c.httpPrefix)
    .map((c) => ({ path: c.path, prefix: c.httpPrefix.replace(/\/?$/, "/") }));

  // Everything /_test/reset empties (a fresh convex-test instance also has a fresh signing key).
  const state = { t: null, keySet: null, faults: [], requests: [] };
  let sync = null; // the WebSocket sync endpoint, created below
  const reset = () => {
    const t = convexTest(app.schema, app.modules);
    for (const c of app.components) t.registerComponent(c.path, c.schema, c.modules);
    state.t = t;
    sync?.reset();
    state.keySet = null;
    state.faults = [];
    state.requests = [];
    idp.resetUser();
  };
  reset();
  // One function run recognises convex-test's execution context (see installComponentEnv);
  // without it every component would read the app's environment, so refuse to start.
  await state.t.run(async () => null);
  if (!componentEnv.found()) {
    throw new Error("convex-test's execution context was not recognised: components cannot get their own environment (is convex-test still 0.0.73?)");
  }

  // Requests handed to a component's bridge action (see component-bridge.mjs).
  const bridge = new Map();
  globalThis.__convexAuthV2Bridge = bridge;

  // ---- Bearer verification, as the Convex backend does it ----
  const ownJwks = `${backendUrl}/.well-known/jwks.json`;
  const remoteKeySets = new Map();
  async function keySetFor(provider) {
    if (provider.type === "customJwt") {
      if (provider.jwks === ownJwks) {
        state.keySet ??= jose.createLocalJWKSet(await state.t.jwks());
        return state.keySet;
      }
      if (!remoteKeySets.has(provider.jwks)) {
        remoteKeySets.set(provider.jwks, jose.createRemoteJWKSet(new URL(provider.jwks)));
      }
      return remoteKeySets.get(provider.jwks);
    }
    // An OIDC provider: discovery, then its JWKS.
    if (!remoteKeySets.has(provider.domain)) {
      const response = await fetch(`${provider.domain}/.well-known/openid-configuration`, {
        headers: { [INTERNAL_HEADER]: "1" },
      });
      if (!response.ok) throw new Error(`OIDC discovery failed for ${provider.domain}`);
      const { jwks_uri } = await response.json();
      remoteKeySets.set(provider.domain, jose.createRemoteJWKSet(new URL(jwks_uri)));
    }
    return remoteKeySets.get(provider.domain);
  }

  /** null without a header, {identity} for a valid JWT, {status, code, message} otherwise. */
  async function authenticate(header) {
    if (header === undefined) return null;
    const match = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(header);
    let claims;
    try {
      if (!match) throw new Error("no bearer");
      claims = jose.decodeJwt(match[1]);
    } catch {
      return {
        status: 401,
        code: "InvalidAuthHeader",
        message: "Could not parse JWT payload. Check that the token is a valid JWT format.",
      };
    }
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const provider = app.authConfig.providers.find(
      (p) => (p.type === "customJwt" ? p.issuer : p.domain) === claims.iss && audiences.includes(p.applicationID),
    );
    if (!provider) {
      return {
        status: 401,
        code: "NoAuthProvider",
        message:
          "No auth provider found matching the given token. Check that your JWT's issuer and audience match one of your configured providers.",
      };
    }
    try {
      const { payload } = await jose.jwtVerify(match[1], await keySetFor(provider), {
        issuer: claims.iss,
        audience: provider.applicationID,
        algorithms: provider.algorithm ? [provider.algorithm] : undefined,
      });
      const identity = { subject: payload.sub, issuer: payload.iss, tokenIdentifier: `${payload.iss}|${payload.sub}` };
      for (const claim of ["name", "email", "picture"]) {
        if (typeof payload[claim] === "string") identity[claim] = payload[claim];
      }
      return { identity };
    } catch {
      return {
        status: 401,
        code: "Unauthenticated",
        message:
          "Could not verify OIDC token claim. Check that the token signature is valid and the token hasn't expired.",
      };
    }
  }

  /** The convex-test accessor for one request: its client's IP and user agent, its identity. */
  function accessorFor(req, identity) {
    const ip = (req.socket.remoteAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
    let accessor = state.t.withRequestMetadata({ ip, userAgent: req.headers["user-agent"] ?? null });
    if (identity) accessor = accessor.withIdentity(identity);
    return accessor;
  }

  // ---- Faults ----
  // ---- The public HTTP API ----
  /** The public function at `path` ("module/sub:name"), or null: {modulePath, name, fn}. */
  async function resolvePublic(path) {
    const [modulePath, name = "default"] = path.replace(/\.js(?=:|$)/, "").split(":");
    if (
      !/^[A-Za-z0-9_]+(\/[A-Za-z0-9_]+)*$/.test(modulePath) ||
      modulePath.startsWith("_") ||
      ["http", "schema", "convex.config", "auth.config", "crons"].includes(modulePath)
    ) {
      return null;
    }
    const loader = app.functionModule(modulePath);
    const fn = loader ? (await loader())[name] : undefined;
    return typeof fn === "function" && fn.isPublic ? { modulePath, name, fn } : null;
  }

  /** Runs a public function; kind "any" (the /api/run route) accepts whatever kind it is. */
  async function callFunction(kind, path, args, accessor) {
    const notFound = {
      status: "error",
      errorMessage: `Could not find public function for '${path}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`,
      logLines: [],
    };
    const found = await resolvePublic(path);
    if (!found) return notFound;
    const { modulePath, name, fn } = found;
    if (kind === "any") kind = fn.isQuery ? "query" : fn.isMutation ? "mutation" : "action";
    const kindFlag = { query: "isQuery", mutation: "isMutation", action: "isAction" }[kind];
    if (!fn[kindFlag]) return notFound;
    const ref = modulePath.split("/").reduce((r, part) => r[part], anyApi)[name];
    try {
      const value = await accessor[kind](ref, args);
      return { status: "success", value: values.convexToJson(value ?? null), logLines: [] };
    } catch (error) {
      const requestId = Math.random().toString(16).slice(2, 18);
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof values.ConvexError || (error?.name === "ConvexError" && "data" in error)) {
        return {
          status: "error",
          errorMessage: `[Request ID: ${requestId}] Server Error\nUncaught ConvexError: ${message}`,
          errorData: values.convexToJson(error.data ?? null),
          logLines: [],
        };
      }
      return {
        status: "error",
        errorMessage: `[Request ID: ${requestId}] Server Error\nUncaught Error: ${message}\n    at handler (../convex/${modulePath}.js)`,
        logLines: [],
      };
    }
  }

  // ---- The WebSocket sync protocol (../../backend/sync.mjs) on the same port ----
  sync = createSyncEndpoint({
    WebSocketServer,
    authenticate,
    // The upgrade request gives the calls their client's IP and user agent, as for HTTP.
    callFunction: (kind, path, args, identity, req) => callFunction(kind, path, args, accessorFor(req, identity)),
    jsonToConvex: values.jsonToConvex,
    // Mutations and actions over sync are logged like the HTTP API's calls, marked `transport`.
    onCall: ({ path, hasAuth }) => {
      const entry = {
        path,
        ...classifyCall(path.replace(/\.js(?=:)/, "")),
        hasAuth,
        at: Date.now(),
        status: null,
        fault: null,
        transport: "sync",
      };
      state.requests.push(entry);
      return (success) => {
        entry.status = success ? 200 : 560;
      };
    },
  });
  server.on("upgrade", (req, socket, head) => sync.handleUpgrade(req, socket, head));

  async function handleApi(req, res, routeKind, body, entry) {
    let request;
    try {
      request = JSON.parse(body.toString("utf8") || "null");
    } catch {
      return sendJson(res, 400, { code: "BadJsonBody", message: "The request body is not JSON." });
    }
    let path = request?.path;
    if (routeKind.startsWith("run:")) path = routeKind.slice(4);
    let args = request?.args ?? {};
    try {
      if (request?.format === "convex_encoded_json") {
        args = values.jsonToConvex(Array.isArray(args) ? (args[0] ?? {}) : args);
      } else if (request?.format !== undefined && request?.format !== "json") {
        return sendJson(res, 400, { code: "BadFormat", message: `Unsupported format ${request.format}` });
      }
    } catch (error) {
      return sendJson(res, 400, { code: "BadArgs", message: String(error?.message ?? error) });
    }
    if (typeof path !== "string" || args === null || typeof args !== "object" || Array.isArray(args)) {
      return sendJson(res, 400, { code: "BadRequest", message: "Expected {path, args, format}." });
    }
    Object.assign(entry, { path, ...classifyCall(path.replace(/\.js(?=:)/, "")) });
    const fault = takeFault(state.faults, path);
    entry.fault = fault?.kind ?? null;
    if (fault?.kind === "network") return resetConnection(res);
    if (fault?.kind === "status") {
      return sendJson(res, fault.status ?? 503, { code: "InjectedFault", message: `Injected status ${fault.status ?? 503}` });
    }
    if (fault?.kind === "delay") await sleep(fault.delayMs ?? 0);
    const auth = await authenticate(req.headers.authorization);
    if (auth && !auth.identity) return sendJson(res, auth.status, { code: auth.code, message: auth.message });
    const kind = routeKind.startsWith("run:") ? "any" : routeKind;
    const result = await callFunction(kind, path, args, accessorFor(req, auth?.identity));
    if (routeKind !== "query" && (routeKind !== "mutation" || result.status === "success")) sync.committed();
    if (fault?.kind === "lost-response") return resetConnection(res);
    return sendJson(res, result.status === "success" ? 200 : 560, result);
  }

  /** Runs an HTTP request through the app's router, or a component's under its prefix. */
  async function runHttp(accessor, pathAndQuery, init) {
    const mount = httpMounts.find((m) => pathAndQuery.startsWith(m.prefix));
    if (!mount) return await accessor.fetch(pathAndQuery, init);
    const id = randomUUID();
    let response;
    bridge.set(id, async () => {
      response = await accessor.fetch(pathAndQuery.slice(mount.prefix.length - 1), init);
    });
    try {
      await accessor.action(componentsGeneric()[mount.path][BRIDGE_MODULE_NAME].serve, { id });
    } finally {
      bridge.delete(id);
    }
    return response;
  }

  async function handleHttpAction(req, res, url, body, entry) {
    entry.path = url.pathname;
    const fault = takeFault(state.faults, url.pathname);
    entry.fault = fault?.kind ?? null;
    if (fault?.kind === "network") return resetConnection(res);
    if (fault?.kind === "status") return sendJson(res, fault.status ?? 503, { code: "InjectedFault" });
    if (fault?.kind === "delay") await sleep(fault.delayMs ?? 0);
    const auth = await authenticate(req.headers.authorization);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (name === "host" || name === "connection" || name === INTERNAL_HEADER) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const hasBody = req.method !== "GET" && req.method !== "HEAD" && body.length > 0;
    const response = await runHttp(accessorFor(req, auth?.identity), url.pathname + url.search, {
      method: req.method,
      headers,
      body: hasBody ? body : undefined,
    });
    sync.committed();
    if (fault?.kind === "lost-response") return resetConnection(res);
    const out = {};
    response.headers.forEach((value, name) => {
      if (name !== "set-cookie") out[name] = value;
    });
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) out["set-cookie"] = cookies;
    const payload = Buffer.from(await response.arrayBuffer());
    res.writeHead(response.status, { ...corsHeaders(req), ...out });
    res.end(payload);
    return response.status;
  }

  // ---- The outbox: what the Resend stub recorded ----
  async function outbox() {
    if (!outboxComponent) return [];
    const rows = await state.t.runInComponent(outboxComponent, (ctx) => ctx.db.query("emails").collect());
    return rows.map((row) => {
      const url = /https?:\/\/\S+/.exec(row.text ?? "")?.[0] ?? null;
      let code = null;
      try {
        code = url === null ? null : new URL(url).searchParams.get("code");
      } catch {
        code = null;
      }
      return { provider: "emailPassword", to: row.to[0] ?? null, subject: row.subject ?? null, code, url, sentAt: row.sentAt };
    });
  }

  async function clearOutbox() {
    if (!outboxComponent) return;
    await state.t.runInComponent(outboxComponent, async (ctx) => {
      for (const row of await ctx.db.query("emails").collect()) await ctx.db.delete(row._id);
    });
  }

  // ---- Test endpoints ----
  async function handleTest(req, res, url, body) {
    const route = `${req.method} ${url.pathname}`;
    const json = () => {
      try {
        return JSON.parse(body.toString("utf8") || "{}");
      } catch {
        return undefined;
      }
    };
    switch (route) {
      case "GET /_test/health":
        return sendJson(res, 200, { ok: true, url: backendUrl, siteUrl, idpUrl: idp.url });
      case "POST /_test/reset":
        reset();
        return sendJson(res, 200, { ok: true });
      case "GET /_test/outbox": {
        const to = url.searchParams.get("to");
        const messages = (await outbox()).filter((m) => to === null || m.to === to);
        return sendJson(res, 200, { messages });
      }
      case "DELETE /_test/outbox":
        await clearOutbox();
        return sendJson(res, 200, { ok: true });
      case "GET /_test/idp/user":
        return sendJson(res, 200, idp.user());
      case "POST /_test/idp/user": {
        const user = json();
        if (!user || typeof user.sub !== "string" || user.sub === "") {
          return sendJson(res, 400, { error: "Expected {sub, email?, name?} with a non-empty sub." });
        }
        if (!["email", "name"].every((k) => user[k] === undefined || typeof user[k] === "string")) {
          return sendJson(res, 400, { error: "email and name must be strings when given." });
        }
        return sendJson(res, 200, idp.setUser({ sub: user.sub, email: user.email, name: user.name }));
      }
      case "GET /_test/faults":
        return sendJson(res, 200, { faults: state.faults });
      case "DELETE /_test/faults":
        state.faults = [];
        return sendJson(res, 200, { ok: true });
      case "POST /_test/faults": {
        const fault = parseFault(json());
        if (!fault) {
          return sendJson(res, 400, {
            error: 'Expected {path, kind: "network"|"lost-response"|"status"|"delay", count?, status?, delayMs?}.',
          });
        }
        state.faults.push(fault);
        return sendJson(res, 200, { faults: state.faults });
      }
      case "GET /_test/requests":
        return sendJson(res, 200, state.requests);
      default:
        return sendJson(res, 404, { error: `No test endpoint ${route}` });
    }
  }

  server.on("request", async (req, res) => {
    res.setHeader("Connection", "close");
    const url = new URL(req.url ?? "/", backendUrl);
    try {
      if (req.method === "OPTIONS" && !(await hasHttpRoute(url.pathname, "OPTIONS"))) {
        res.writeHead(204, { ...corsHeaders(req), "Access-Control-Max-Age": "600" });
        return res.end();
      }
      const body = await readBody(req);
      if (body === null) return sendJson(res, 413, { code: "BodyTooLarge", message: "Request body too large." });
      res.corsHeaders = corsHeaders(req);
      if (url.pathname.startsWith("/_test/")) return await handleTest(req, res, url, body);
      if (req.method === "GET" && url.pathname === "/.well-known/jwks.json") {
        return sendJson(res, 200, await state.t.jwks());
      }
      const entry = {
        path: url.pathname,
        kind: null,
        provider: null,
        hasAuth: req.headers.authorization !== undefined,
        at: Date.now(),
        status: null,
        fault: null,
      };
      if (req.headers[INTERNAL_HEADER] === undefined) state.requests.push(entry);
      const api = /^\/api\/(query|mutation|action)$/.exec(url.pathname);
      const run = /^\/api\/run\/(.+)\/([^/]+)$/.exec(url.pathname);
      if (req.method === "POST" && api) {
        entry.status = await handleApi(req, res, api[1], body, entry);
      } else if (req.method === "POST" && run) {
        entry.status = await handleApi(req, res, `run:${run[1]}:${run[2]}`, body, entry);
      } else {
        entry.status = await handleHttpAction(req, res, url, body, entry);
      }
    } catch (error) {
      console.error("local backend:", error);
      if (!res.headersSent) sendJson(res, 500, { code: "InternalServerError", message: String(error?.message ?? error) });
      else res.destroy();
    }
  });

  let router;
  async function hasHttpRoute(pathname, method) {
    if (httpMounts.some((m) => pathname.startsWith(m.prefix))) return false;
    router ??= (await app.functionModule("http")()).default;
    return router.lookup(pathname, method) !== null;
  }

  return {
    url: backendUrl,
    siteUrl,
    idpUrl: idp.url,
    async close() {
      sync.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await idp.stop();
    },
  };
}

