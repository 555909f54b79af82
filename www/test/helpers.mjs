// Starts `node backend/main.mjs` exactly as `make backend` does and talks to it.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ConvexHttpClient } from "convex/browser";

const WWW = fileURLToPath(new URL("..", import.meta.url));

/** Starts a backend on a free port; resolves to {url, siteUrl, idpUrl, stop()}. */
export function startBackend(env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["backend/main.mjs"], {
      cwd: WWW,
      env: { ...process.env, PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => { err += d; if (process.env.BACKEND_STDERR) process.stderr.write(d); });
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.includes('"ready":true'));
      if (line) {
        const info = JSON.parse(line);
        resolve({
          ...info,
          stop: () =>
            new Promise((done) => {
              child.once("exit", done);
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

export function client(backend, token) {
  const c = new ConvexHttpClient(backend.url, { logger: false });
  if (token) c.setAuth(token);
  return c;
}

export const signIn = (backend, provider, params, extra = {}) =>
  client(backend).action("auth:signIn", { ...(provider ? { provider } : {}), ...(params ? { params } : {}), ...extra });

export async function lastMessage(backend, to) {
  const { body } = await testApi(backend, "GET", `/_test/outbox?to=${encodeURIComponent(to)}`);
  return body.messages.at(-1);
}

export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

/** Follows an OAuth redirect chain with plain fetch and a cookie jar; returns the final URL. */
export async function followOAuth(startUrl, stopAt) {
  const jar = new Map();
  let url = startUrl;
  for (let hop = 0; hop < 10; hop++) {
    if (url.startsWith(stopAt)) return new URL(url);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
    for (const c of response.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
    }
    const location = response.headers.get("location");
    if (!location || response.status < 300 || response.status >= 400) {
      throw new Error(`OAuth chain stopped at ${url} with ${response.status}: ${await response.text()}`);
    }
    url = new URL(location, url).href;
  }
  throw new Error("too many redirects");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
