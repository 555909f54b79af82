// Helpers of the sync-protocol tests of both backends (test/sync.test.mjs, v2/test/sync.test.mjs).
// Like backend/sync.mjs it imports nothing beyond Node: each test passes its own `ws` class and
// official client.

/** Records events and lets a test await one (past or future) instead of sleeping. */
export class Recorder {
  constructor() {
    this.events = [];
    this.waiters = new Set();
  }

  push(type, value) {
    const event = { type, value, at: Date.now(), index: this.events.length };
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.matches(event)) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(event);
      }
    }
  }

  all(type, predicate = () => true) {
    return this.events.filter((e) => e.type === type && predicate(e.value));
  }

  get length() {
    return this.events.length;
  }

  /** The first event of `type` from index `since` on whose value satisfies `predicate`. */
  wait(type, predicate = () => true, { since = 0, ms = 8000 } = {}) {
    const matches = (e) => e.index >= since && e.type === type && predicate(e.value);
    const found = this.events.find(matches);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        matches,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const seen = this.events.map((e) => `${e.type}:${JSON.stringify(e.value)?.slice(0, 120)}`).join("\n  ");
          reject(new Error(`timed out after ${ms} ms waiting for a "${type}" event; seen:\n  ${seen}`));
        }, ms),
      };
      this.waiters.add(waiter);
    });
  }
}

/**
 * A bare WebSocket on the sync endpoint, for protocol-level checks: `send(message)`,
 * `next(type, predicate)` (the next server message of that type), `closed()` (the close event).
 */
export async function rawSync(WebSocket, backendUrl, version = "1.48.0") {
  const ws = new WebSocket(`${backendUrl.replace(/^http/, "ws")}/api/${version}/sync`);
  const recorder = new Recorder();
  ws.on("message", (data) => recorder.push("message", JSON.parse(String(data))));
  ws.on("close", (code, reason) => recorder.push("close", { code, reason: String(reason) }));
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  let cursor = 0;
  return {
    ws,
    recorder,
    send: (message) => ws.send(JSON.stringify(message)),
    /** The next message of `type` after the previous one returned. */
    async next(type, predicate = () => true) {
      const event = await recorder.wait("message", (m) => m.type === type && predicate(m), { since: cursor });
      cursor = event.index + 1;
      return event.value;
    },
    closed: async () => (await recorder.wait("close")).value,
    close: () => ws.close(),
  };
}

/** Convex's u64 wire encoding (8 bytes little-endian, base64) as a BigInt. */
export const u64 = (encoded) => Buffer.from(encoded, "base64").readBigUInt64LE();
export const ZERO_TS = Buffer.alloc(8).toString("base64");

export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}
