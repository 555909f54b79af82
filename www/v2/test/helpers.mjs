// Starts `node backend/main.mjs` exactly as `VERSION=v2 make backend` does and talks to it with
// the official ConvexHttpClient.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { ConvexHttpClient } from "convex/browser";

const V2 = fileURLToPath(new URL("..", import.meta.url));

/** Starts a backend on a free port; resolves to {url, siteUrl, idpUrl, stop()}. */
export function startBackend(env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["backend/main.mjs"], {
      cwd: V2,
      env: { ...process.env, PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
      if (process.env.BACKEND_STDERR) process.stderr.write(d);
    });
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.includes('"ready":true'));
      if (line) {
        resolve({
          ...JSON.parse(line),
          stdout: () => out,
          stop: () =>
            new Promise((done) => {
              child.once("exit", (code, signal) => done({ code, signal }));
              child.kill("SIGTERM");
            }),
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`backend exited with ${code}: ${err}`)));
  });
}

export async function testApi(backend, method, path, body) {
  const response = await fetch(`${backend.url}${path}`, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

export const reset = (backend) => testApi(backend, "POST", "/_test/reset");

/** The official HTTP client, with an access token when given. */
export function client(backend, token) {
  const c = new ConvexHttpClient(backend.url, { logger: false });
  if (token) c.setAuth(token);
  return c;
}

/** `auth:<name>` as a mutation through the official client (no token). */
export const auth = (backend, name, args = {}) => client(backend).mutation(`auth:${name}`, args);

/** A fresh name for this run: password checks are rate limited per user. */
export function fresh(prefix) {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}
export const freshEmail = (prefix = "user") => `${fresh(prefix)}@example.com`;
export const PASSWORD = "correct horse battery staple";

export async function outbox(backend, to) {
  const query = to === undefined ? "" : `?to=${encodeURIComponent(to)}`;
  return (await testApi(backend, "GET", `/_test/outbox${query}`)).body.messages;
}
export const lastMessage = async (backend, to) => (await outbox(backend, to)).at(-1);

export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}
export function header(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8"));
}

/** Email + password sign-up completed through the emailed link; resolves to the tokens. */
export async function signUpWithEmail(backend, email = freshEmail(), password = PASSWORD) {
  const up = await auth(backend, "signUpWithEmailPassword", { email, password });
  if (!up.success) throw new Error(`sign-up failed: ${JSON.stringify(up)}`);
  const { code } = await lastMessage(backend, email);
  const done = await auth(backend, "completeSignUpWithEmailPassword", { emailCode: code, browserSecret: up.browserSecret });
  if (done.status !== "complete") throw new Error(`completion failed: ${JSON.stringify(done)}`);
  return { email, password, tokens: done.tokens };
}

/** A fresh anonymous session's tokens. */
export async function anonymous(backend) {
  const result = await auth(backend, "signInAnonymously");
  return result.tokens;
}

/** Follows a redirect chain with plain fetch until a URL starting with `stopAt`. */
export async function followRedirects(startUrl, stopAt) {
  let url = startUrl;
  for (let hop = 0; hop < 10; hop++) {
    if (url.startsWith(stopAt)) return new URL(url);
    const response = await fetch(url, { redirect: "manual" });
    const location = response.headers.get("location");
    if (!location || response.status < 300 || response.status >= 400) {
      throw new Error(`redirects stopped at ${url} with ${response.status}: ${await response.text()}`);
    }
    url = new URL(location, url).href;
  }
  throw new Error("too many redirects");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
