// Child processes for the browser tests and the benchmarks: a free loopback port, a Node script
// started until it prints its `{"ready":true,...}` line, and stopping it. No dependencies, so
// bench/ can import it too.
import { spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** `chromium.launch()` options: Debian's Chromium (or $CHROMIUM), headless, and no background
 *  traffic of its own, so request counts and timings are the page's alone. */
export const CHROMIUM_OPTIONS = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs `node <script>` from the repository root with `env` added, resolving `{info, child}` once
 *  it prints its ready line (`info` is that line, parsed). `track`, if given, receives the child
 *  at once, so that a caller can stop it even when it never gets ready. */
export function startNode(script, env, track) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    track?.push(child);
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.includes('"ready":true'));
      if (line) resolve({ info: JSON.parse(line), child });
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}: ${err}`)));
  });
}

/** Stops a child with SIGTERM and waits for it to exit. */
export const stop = (child) =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
