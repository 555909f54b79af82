// The official v2 client's bench page (bench/run.mjs bundles it with `convex` 1.51 into
// bench/out/pages/official-v2.js, loaded by official-v2.html): the non-React app of
// official-v2-email-password.js with `ConvexClient` from `convex/browser`, as a v2 app runs it.
// `?url=` is the deployment (HTTP API and WebSocket sync endpoint).
import { ConvexClient } from "convex/browser";
import { createConvexAuth } from "./official-v2-email-password.js";

const params = new URLSearchParams(location.search);
const url = params.get("url");
const convex = new ConvexClient(url);
const bench = (window.bench = { forcedCalls: 0, forcedSettled: 0, confirmed: null, errors: [] });
const auth = createConvexAuth({
  url,
  convex,
  storageNamespace: url,
  onChange: (isAuthenticated) => {
    bench.confirmed = isAuthenticated;
    if (isAuthenticated) settle();
  },
});
// Count what the convex client asks of the auth client: forced calls are refreshes.
const fetchAccessToken = auth.client.fetchAccessToken;
auth.client.fetchAccessToken = async (args) => {
  if (!args.forceRefreshToken) return fetchAccessToken(args);
  bench.forcedCalls++;
  try {
    return await fetchAccessToken(args);
  } finally {
    bench.forcedSettled++;
  }
};
window.addEventListener("error", (e) => bench.errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => bench.errors.push(String(e.reason)));

// Settled: the backend confirmed the session and no forced refresh has been pending for 300 ms.
let settling = false;
async function settle() {
  if (settling) return;
  settling = true;
  const quiet = () => new Promise((r) => setTimeout(r, 300));
  await quiet();
  while (bench.forcedCalls !== bench.forcedSettled) await quiet();
  window.settledDone = true;
}

await auth.start();
window.auth = auth;
window.convex = convex;
bench.isAuthenticated = auth.client.getSnapshot().isAuthenticated;
window.readyDone = true;
