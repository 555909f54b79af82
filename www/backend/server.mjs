// The local Convex backend: the demo app's functions in ../convex run on convex-test with the
// real @convex-dev/auth, behind Convex's public HTTP API. This module decides nothing about
// auth: sign-in, tokens and sessions are @convex-dev/auth's; it only verifies Bearer JWTs the
// way the Convex backend does (OIDC discovery of the issuers in auth.config.js), routes HTTP
// actions, serves the WebSocket sync protocol on the same port (sync.mjs), and adds the
// test-only endpoints of BACKEND.md (outbox, OAuth identity, faults, request log,
// identity-platform tokens and webhook deliveries).
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import http from "node:http";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as jose from "jose";
import { OAuth2Server } from "oauth2-mock-server";
import { Webhook } from "svix";
import { WebSocketServer } from "ws";
import { corsHeaders, parseFault, readBody, resetConnection, sendJson, sleep, takeFault, tokenClientId } from "./http.mjs";
import { createSyncEndpoint } from "./sync.mjs";

const CONVEX_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "convex");
const INTERNAL_HEADER = "x-local-backend-internal";
const DEFAULT_IDP_USER = Object.freeze({
  sub: "mock-user-1",
  email: "octocat@example.com",
  name: "Mona Octocat",
});
const GITHUB_CLIENT = { id: "local-github-client", secret: "local-github-secret" };
const OIDC_CLIENT = { id: "local-oidc-client", secret: "local-oidc-secret" };
// The identity platform's OAuth client: the OAuth mock mints its id_tokens with aud "convex",
// the audience auth.config.js trusts for CLERK_JWT_ISSUER_DOMAIN (a public client, PKCE).
const PLATFORM_CLIENT_ID = "convex";
const PLATFORM_AUDIENCE = "convex";
const MAX_PLATFORM_TTL_MS = 366 * 24 * 3600 * 1000;
const MAX_DELAY_MS = 2 ** 31 - 1; // setTimeout's bound

/** A platform token lifetime: whole milliseconds from 1 s up (claims count seconds), or null. */
function platformTtl(value) {
  return Number.isInteger(value) && value >= 1000 && value <= MAX_PLATFORM_TTL_MS ? value : null;
}

/** Every `.js` file under convex/, keyed the way convex-test expects ("./convex/auth.js"). */
function convexModules() {
  const modules = {};
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".js")) {
        const url = pathToFileURL(full).href;
        modules[`./convex/${relative(CONVEX_DIR, full).split("\\").join("/")}`] = () => import(url);
      }
    }
  };
  walk(CONVEX_DIR);
  return modules;
}

/**
 * Starts the OAuth mock and the backend. Options: port (0 = any), host, siteUrl,
 * jwtDurationMs, jwtPrivateKey and jwks (PEM and JSON; a fresh RS256 pair otherwise);
 * platformTokenTtlMs (env PLATFORM_TOKEN_TTL_MS, default one hour, whole seconds from 1000 up:
 * the lifetime of the identity platform's tokens, those the OAuth mock mints for client
 * "convex" and those of POST /_test/platform/token) and clerkWebhookSecret (env
 * CLERK_WEBHOOK_SECRET, "whsec_..."; a fresh one otherwise: the signing secret of the
 * deliveries that POST /_test/webhook makes to /clerk-users-webhook).
 * Resolves to {url, siteUrl, idpUrl, close()}.
 */
export async function startBackend(options = {}) {
  const host = options.host ?? "127.0.0.1";
  const siteUrl = (options.siteUrl ?? "http://localhost:5173").replace(/\/$/, "");
  const platform = platformSettings(options);

  let idpUser = { ...DEFAULT_IDP_USER };
  const idp = new OAuth2Server(undefined, undefined, {
    // The paths of github.com, so the stock GitHub provider works with `enterprise.baseUrl`;
    // the OIDC provider finds the same endpoints through discovery.
    endpoints: {
      authorize: "/login/oauth/authorize",
      token: "/login/oauth/access_token",
      userinfo: "/api/v3/user",
    },
  });
  await idp.issuer.keys.generate("RS256");
  idp.service.on("beforeTokenSigning", (token) => {
    token.payload.sub = idpUser.sub;
    token.payload.email = idpUser.email;
    token.payload.name = idpUser.name;
  });
  idp.service.on("beforeResponse", (response, req) => {
    // GitHub is plain OAuth 2: its token answer has no id_token.
    if (tokenClientId(req) === GITHUB_CLIENT.id) delete response.body.id_token;
  });
  idp.service.on("beforeUserinfo", (response) => {
    response.body = {
      sub: idpUser.sub,
      id: idpUser.sub,
      login: idpUser.sub,
      name: idpUser.name,
      email: idpUser.email,
    };
  });
  // The identity platform's client "convex": tokens of PLATFORM_TOKEN_TTL_MS, and a refresh
  // keeps the identity its refresh token was issued for (an OIDC client checks that `sub`
  // stays the same) instead of taking the identity of the next login.
  const platformRefreshUsers = new Map();
  const platformUserFor = (req) =>
    (req.body?.grant_type === "refresh_token" && platformRefreshUsers.get(req.body.refresh_token)) || idpUser;
  idp.service.on("beforeTokenSigning", (token, req) => {
    if (tokenClientId(req) !== PLATFORM_CLIENT_ID) return;
    const user = platformUserFor(req);
    Object.assign(token.payload, { sub: user.sub, email: user.email, name: user.name });
    token.payload.exp = token.payload.iat + ttlSeconds(platform.ttlMs);
  });
  idp.service.on("beforeResponse", (response, req) => {
    if (tokenClientId(req) !== PLATFORM_CLIENT_ID || response.statusCode !== 200 || req.res?.headersSent) return;
    response.body.expires_in = ttlSeconds(platform.ttlMs);
    if (response.body.refresh_token) platformRefreshUsers.set(response.body.refresh_token, { ...platformUserFor(req) });
  });
  // oauth2-mock-server 8.1.0 answers 400 to a code_verifier that does not match, then goes on
  // and answers again; that second answer throws and resets the connection, which sometimes
  // loses the 400. Make the second answer a no-op.
  idp.service.on("beforeResponse", (_response, req) => {
    if (req.res?.headersSent) req.res.json = () => req.res;
  });
  await idp.start(0, host);
  const idpUrl = `http://${host}:${idp.address().port}`;
  idp.issuer.url = idpUrl;

  const server = http.createServer();
  server.keepAliveTimeout = 0;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 3210, host, resolve);
  });
  const backendUrl = `http://${host}:${server.address().port}`;

  // convexAuth() reads its settings when auth.js is first imported.
  let privateKey = options.jwtPrivateKey;
  let jwks = options.jwks;
  if (!privateKey || !jwks) {
    const pair = await jose.generateKeyPair("RS256", { extractable: true });
    privateKey = await jose.exportPKCS8(pair.privateKey);
    const jwk = await jose.exportJWK(pair.publicKey);
    jwks = JSON.stringify({ keys: [{ use: "sig", ...jwk }] });
  }
  Object.assign(process.env, {
    CONVEX_SITE_URL: backendUrl,
    SITE_URL: siteUrl,
    JWT_PRIVATE_KEY: privateKey,
    JWKS: jwks,
    GITHUB_BASE_URL: idpUrl,
    AUTH_GITHUB_ID: GITHUB_CLIENT.id,
    AUTH_GITHUB_SECRET: GITHUB_CLIENT.secret,
    AUTH_MOCK_OIDC_ISSUER: idpUrl,
    AUTH_MOCK_OIDC_ID: OIDC_CLIENT.id,
    AUTH_MOCK_OIDC_SECRET: OIDC_CLIENT.secret,
    // The identity platform: auth.config.js trusts the OAuth mock as its issuer; the Clerk
    // webhook route verifies deliveries with this secret.
    CLERK_JWT_ISSUER_DOMAIN: idpUrl,
    CLERK_WEBHOOK_SECRET: platform.webhookSecret,
  });
  if (options.jwtDurationMs !== undefined) process.env.JWT_DURATION_MS = String(options.jwtDurationMs);

  const [{ convexTest }, { anyApi }, values, schema, authConfig] = await Promise.all([
    import("convex-test"),
    import("convex/server"),
    import("convex/values"),
    import(pathToFileURL(join(CONVEX_DIR, "schema.js")).href),
    import(pathToFileURL(join(CONVEX_DIR, "auth.config.js")).href),
  ]);
  const modules = convexModules();

  // The identity platform's test side: its tokens, and Clerk-shaped webhook deliveries.
  const platformTokens = platformTokenMinter(idp);
  const webhooks = webhookDeliverer(`${backendUrl}/clerk-users-webhook`, platform.webhookSecret);

  // Everything /_test/reset empties.
  const state = { t: null, outbox: [], faults: [], requests: [] };
  let sync = null; // the WebSocket sync endpoint, created below
  const reset = () => {
    state.t = convexTest(schema.default, modules);
    sync?.reset();
    state.outbox = [];
    state.faults = [];
    state.requests = [];
    idpUser = { ...DEFAULT_IDP_USER };
    webhooks.dropPending();
  };
  reset();
  globalThis.__convexAuthLocalOutbox = (message) => state.outbox.push(message);

  // ---- Bearer verification, as the Convex backend does it ----
  const jwksByIssuer = new Map();
  async function keySetFor(domain) {
    let keySet = jwksByIssuer.get(domain);
    if (!keySet) {
      const response = await fetch(`${domain}/.well-known/openid-configuration`, {
        headers: { [INTERNAL_HEADER]: "1" },
      });
      if (!response.ok) throw new Error(`OIDC discovery failed for ${domain}`);
      const { jwks_uri } = await response.json();
      keySet = jose.createRemoteJWKSet(new URL(jwks_uri), { headers: { [INTERNAL_HEADER]: "1" } });
      jwksByIssuer.set(domain, keySet);
    }
    return keySet;
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
    const provider = authConfig.default.providers.find(
      (p) => p.domain === claims.iss && audiences.includes(p.applicationID),
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
      const { payload } = await jose.jwtVerify(match[1], await keySetFor(provider.domain), {
        issuer: provider.domain,
        audience: provider.applicationID,
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

  // ---- Faults and the request log ----
  // ---- The public HTTP API ----
  /** The public function at `path` ("module/sub:name"), or null: {modulePath, name, fn}. */
  async function resolvePublic(path) {
    const [modulePath, name = "default"] = path.replace(/\.js(?=:|$)/, "").split(":");
    if (!/^[A-Za-z0-9_]+(\/[A-Za-z0-9_]+)*$/.test(modulePath) || modulePath.startsWith("_") || modulePath === "http") {
      return null;
    }
    const loader = modules[`./convex/${modulePath}.js`];
    const fn = loader ? (await loader())[name] : undefined;
    return typeof fn === "function" && fn.isPublic ? { modulePath, name, fn } : null;
  }

  /** Runs a public function; kind "any" (the /api/run route) accepts whatever kind it is. */
  async function callFunction(kind, path, args, identity) {
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
    const accessor = identity ? state.t.withIdentity(identity) : state.t;
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

  // ---- The WebSocket sync protocol (sync.mjs) on the same port ----
  sync = createSyncEndpoint({
    WebSocketServer,
    authenticate,
    callFunction,
    jsonToConvex: values.jsonToConvex,
    // Mutations and actions over sync are logged like the HTTP API's calls, marked `transport`.
    onCall: ({ path, args, hasAuth }) => {
      const entry = {
        path,
        kind: authCallKind(path, args),
        provider: typeof args?.provider === "string" ? args.provider : null,
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

  function authCallKind(path, args) {
    if (path === "auth:signOut") return "signOut";
    if (path !== "auth:signIn") return null;
    if (args?.provider === undefined && args?.refreshToken !== undefined) return "refresh";
    if (args?.provider === undefined && args?.params?.code !== undefined) return "code";
    return "signIn";
  }

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
    Object.assign(entry, {
      path,
      kind: authCallKind(path, args),
      provider: typeof args.provider === "string" ? args.provider : null,
    });
    const fault = takeFault(state.faults, path);
    entry.fault = fault?.kind ?? null;
    if (fault?.kind === "network") return resetConnection(res);
    if (fault?.kind === "status") {
      return sendJson(res, fault.status ?? 503, { code: "InjectedFault", message: `Injected status ${fault.status ?? 503}` });
    }
    if (fault?.kind === "delay") await sleep(fault.delayMs ?? 0);
    const auth = await authenticate(req.headers.authorization);
    if (auth && !auth.identity) return sendJson(res, auth.status, { code: auth.code, message: auth.message });
    const result = await callFunction(routeKind.startsWith("run:") ? "any" : routeKind, path, args, auth?.identity);
    if (routeKind !== "query" && (routeKind !== "mutation" || result.status === "success")) sync.committed();
    if (fault?.kind === "lost-response") return resetConnection(res);
    return sendJson(res, result.status === "success" ? 200 : 560, result);
  }

  async function handleHttpAction(req, res, url, body, entry) {
    entry.path = url.pathname;
    const fault = takeFault(state.faults, url.pathname);
    entry.fault = fault?.kind ?? null;
    if (fault?.kind === "network") return resetConnection(res);
    if (fault?.kind === "status") return sendJson(res, fault.status ?? 503, { code: "InjectedFault" });
    if (fault?.kind === "delay") await sleep(fault.delayMs ?? 0);
    const auth = await authenticate(req.headers.authorization);
    const accessor = auth?.identity ? state.t.withIdentity(auth.identity) : state.t;
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (name === "host" || name === "connection" || name === INTERNAL_HEADER) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const hasBody = req.method !== "GET" && req.method !== "HEAD" && body.length > 0;
    const response = await accessor.fetch(url.pathname + url.search, {
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
        return sendJson(res, 200, { ok: true, url: backendUrl, siteUrl, idpUrl });
      case "POST /_test/reset":
        reset();
        return sendJson(res, 200, { ok: true });
      case "GET /_test/outbox": {
        const to = url.searchParams.get("to");
        const messages = state.outbox.filter((m) => to === null || m.to === to);
        return sendJson(res, 200, { messages });
      }
      case "DELETE /_test/outbox":
        state.outbox = [];
        return sendJson(res, 200, { ok: true });
      case "GET /_test/idp/user":
        return sendJson(res, 200, idpUser);
      case "POST /_test/idp/user": {
        const user = json();
        if (!user || typeof user.sub !== "string" || user.sub === "") {
          return sendJson(res, 400, { error: "Expected {sub, email?, name?} with a non-empty sub." });
        }
        if (!["email", "name"].every((k) => user[k] === undefined || typeof user[k] === "string")) {
          return sendJson(res, 400, { error: "email and name must be strings when given." });
        }
        idpUser = { sub: user.sub, email: user.email, name: user.name };
        return sendJson(res, 200, idpUser);
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
      case "POST /_test/platform/token": {
        const request = parsePlatformTokenRequest(json(), platform.ttlMs);
        if (request.error) return sendJson(res, 400, { error: request.error });
        return sendJson(res, 200, await platformTokens.mint(request));
      }
      case "POST /_test/webhook": {
        const request = parseWebhookRequest(json());
        if (request.error) return sendJson(res, 400, { error: request.error });
        return sendJson(res, 200, await webhooks.deliver(request));
      }
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
      const entry = {
        path: url.pathname,
        kind: null,
        provider: null,
        hasAuth: req.headers.authorization !== undefined,
        at: Date.now(),
        status: null,
        fault: null,
      };
      const logged = req.headers[INTERNAL_HEADER] === undefined;
      if (logged) state.requests.push(entry);
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
    router ??= (await modules["./convex/http.js"]()).default;
    return router.lookup(pathname, method) !== null;
  }

  return {
    url: backendUrl,
    siteUrl,
    idpUrl,
    async close() {
      webhooks.dropPending();
      sync.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await idp.stop();
    },
  };
}

// ---- The identity platform (BACKEND.md, "Identity platform pieces") ----
// Tokens of the trusted platform issuer are minted by the OAuth mock itself (its key, its
// discovery document, its JWKS), exactly as for client "convex" in the OAuth flow. None of
// this decides anything the Convex backend would: the Bearer check and the functions do.

/** {ttlMs, webhookSecret} from the options, else the environment, else the defaults. */
function platformSettings(options) {
  const ttlInput = options.platformTokenTtlMs ?? process.env.PLATFORM_TOKEN_TTL_MS;
  const ttlMs = ttlInput === undefined ? 3600 * 1000 : platformTtl(Number(ttlInput));
  if (ttlMs === null) {
    throw new Error(`PLATFORM_TOKEN_TTL_MS must be a whole number of milliseconds from 1000 up, got ${ttlInput}`);
  }
  const webhookSecret =
    options.clerkWebhookSecret ?? process.env.CLERK_WEBHOOK_SECRET ?? `whsec_${randomBytes(24).toString("base64")}`;
  try {
    new Webhook(webhookSecret);
  } catch (error) {
    throw new Error(`CLERK_WEBHOOK_SECRET is not a Svix signing secret ("whsec_" and base64): ${error.message}`);
  }
  return { ttlMs, webhookSecret };
}

/** The seconds a token of `ttlMs` lives: claims count whole seconds, rounded up. */
const ttlSeconds = (ttlMs) => Math.ceil(ttlMs / 1000);

/**
 * The body of POST /_test/platform/token, {sub, name?, email?, ttlMs?, issuer?}, checked:
 * {sub, name, email, ttlMs, issuer} or {error}.
 */
function parsePlatformTokenRequest(body, defaultTtlMs) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { error: "Expected a JSON object {sub, name?, email?, ttlMs?, issuer?}." };
  }
  const unknown = Object.keys(body).filter((k) => !["sub", "name", "email", "ttlMs", "issuer"].includes(k));
  if (unknown.length > 0) return { error: `Unknown field(s) ${unknown.join(", ")}; expected {sub, name?, email?, ttlMs?, issuer?}.` };
  if (typeof body.sub !== "string" || body.sub === "") return { error: "sub must be a non-empty string." };
  for (const key of ["name", "email"]) {
    if (body[key] !== undefined && typeof body[key] !== "string") return { error: `${key} must be a string when given.` };
  }
  const ttlMs = body.ttlMs === undefined ? defaultTtlMs : platformTtl(body.ttlMs);
  if (ttlMs === null) {
    return { error: `ttlMs must be a whole number of milliseconds from 1000 to ${MAX_PLATFORM_TTL_MS}.` };
  }
  const issuer = body.issuer ?? "platform";
  if (issuer !== "platform" && issuer !== "untrusted") return { error: 'issuer must be "platform" or "untrusted" when given.' };
  return { sub: body.sub, name: body.name, email: body.email, ttlMs, issuer };
}

/**
 * Mints RS256 JWTs of the identity platform, shaped like a Clerk "convex" template token:
 * {iss, sub, aud: "convex", iat, nbf, exp, name?, email?}. issuer "platform" signs with the
 * OAuth mock's key (the issuer auth.config.js trusts); "untrusted" with a key of its own, as
 * `<idp url>/untrusted`, an issuer the backend does not know.
 */
function platformTokenMinter(idp) {
  let untrusted;
  const makeUntrusted = async () => {
    const { privateKey } = await jose.generateKeyPair("RS256");
    return { key: privateKey, kid: `untrusted-${randomUUID()}` };
  };
  return {
    async mint({ sub, name, email, ttlMs, issuer }) {
      const setClaims = (payload) => {
        Object.assign(payload, { sub, aud: PLATFORM_AUDIENCE });
        if (name !== undefined) payload.name = name;
        if (email !== undefined) payload.email = email;
        payload.exp = payload.iat + ttlSeconds(ttlMs);
      };
      let token;
      if (issuer === "untrusted") {
        untrusted ??= makeUntrusted();
        const { key, kid } = await untrusted;
        const iat = Math.floor(Date.now() / 1000);
        const payload = { iss: `${idp.issuer.url}/untrusted`, iat, nbf: iat - 10 };
        setClaims(payload);
        token = await new jose.SignJWT(payload).setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).sign(key);
      } else {
        token = await idp.issuer.buildToken({ scopesOrTransform: (_header, payload) => setClaims(payload) });
      }
      const { iss, exp, iat } = jose.decodeJwt(token);
      return { token, issuer: iss, exp, iat };
    },
  };
}

/** The body of POST /_test/webhook, {type, data, delayMs?}, checked: itself or {error}. */
function parseWebhookRequest(body) {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { error: "Expected a JSON object {type, data, delayMs?}." };
  }
  const unknown = Object.keys(body).filter((k) => !["type", "data", "delayMs"].includes(k));
  if (unknown.length > 0) return { error: `Unknown field(s) ${unknown.join(", ")}; expected {type, data, delayMs?}.` };
  if (typeof body.type !== "string" || body.type === "") return { error: 'type must be a non-empty string such as "user.created".' };
  if (body.data === null || typeof body.data !== "object" || Array.isArray(body.data)) {
    return { error: "data must be an object (Clerk's user object for user.* events)." };
  }
  const delayMs = body.delayMs ?? 0;
  if (!(Number.isFinite(delayMs) && delayMs >= 0 && delayMs <= MAX_DELAY_MS)) {
    return { error: `delayMs must be a number of milliseconds from 0 to ${MAX_DELAY_MS}.` };
  }
  return { type: body.type, data: body.data, delayMs };
}

/**
 * Delivers Clerk-shaped events ({type, data, object: "event"}) to the backend's own
 * /clerk-users-webhook as Svix does: signed with the endpoint's secret at the moment of
 * delivery, over HTTP, so the route verifies them like any external delivery (and the request
 * log and faults see them). deliver() answers {id, delivered, status} at once, or
 * {id, delivered: false, status: null, deliverAt} for a delayed delivery; dropPending()
 * cancels the delayed ones.
 */
function webhookDeliverer(url, secret) {
  const svix = new Webhook(secret);
  const pending = new Map();
  async function send(id, payload) {
    const now = new Date();
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "svix-id": id,
        "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
        "svix-signature": svix.sign(id, now, payload),
      },
      body: payload,
    });
    await response.arrayBuffer();
    return response.status;
  }
  return {
    async deliver({ type, data, delayMs }) {
      const id = `msg_${randomUUID().replaceAll("-", "")}`;
      const payload = JSON.stringify({ type, data, object: "event" });
      if (delayMs > 0) {
        const timer = setTimeout(() => {
          pending.delete(id);
          send(id, payload).catch((error) => console.error(`local backend: webhook ${id} not delivered:`, error));
        }, delayMs);
        pending.set(id, timer);
        return { id, delivered: false, status: null, deliverAt: Date.now() + delayMs };
      }
      try {
        return { id, delivered: true, status: await send(id, payload) };
      } catch (error) {
        return { id, delivered: false, status: null, error: String(error?.cause?.code ?? error?.message ?? error) };
      }
    },
    dropPending() {
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
    },
  };
}
