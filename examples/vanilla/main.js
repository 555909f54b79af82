// convex-auth-wasm in plain JavaScript: render from `auth.subscribe`.
import init, { ConvexAuthClient } from "convex-auth-wasm";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";

// Without generated code, `anyApi` names any function: api.users.viewer is "users:viewer".
// (In a project with `npx convex dev`, import { api } from "../convex/_generated/api" instead.)
const api = anyApi;

const query = new URLSearchParams(location.search);
const convexUrl = query.get("convex") ?? "http://127.0.0.1:3210";
// `?version=v2` for a deployment on Convex Auth v2 (@convex-dev/auth 2.0): the same signIn and
// signOut calls, mapped by the client onto 2.0's functions. Each deployment keeps its session
// under its own storage namespace.
const version = query.get("version") === "v2" ? "v2" : "v1";

await init(); // loads the .wasm once
const auth = new ConvexAuthClient({
  url: convexUrl,
  version,
  storageNamespace: version === "v2" ? "vanilla-v2" : "vanilla",
});
window.auth = auth; // for the tests and the devtools console

const http = new ConvexHttpClient(convexUrl);
const app = document.getElementById("app");
let error = "";
let viewer = { userId: null, id: "" }; // the viewer's _id, for the user it was fetched for

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

// Calls a Convex query as the signed-in user with the official HTTP client.
async function loadViewer(userId) {
  const token = await auth.fetchAccessToken({ forceRefreshToken: false });
  if (token === null) return;
  http.setAuth(token);
  const doc = await http.query(api.users.viewer, {});
  // Ignore the answer if the user changed meanwhile.
  if (auth.getSnapshot().userId === userId) {
    viewer = { userId, id: doc?._id ?? "" };
    render(auth.getSnapshot());
  }
}

async function run(action) {
  error = "";
  try {
    await action();
  } catch (e) {
    error = e.message;
    render(auth.getSnapshot());
  }
}

function render(state) {
  if (state.isLoading) {
    // Nothing but a loading line until the stored session is known: no signed-out flash.
    app.replaceChildren(el("p", { "data-testid": "status" }, "loading"));
    return;
  }
  if (!state.isAuthenticated) {
    app.replaceChildren(
      el("p", { "data-testid": "status" }, "signed-out"),
      el("button", { "data-testid": "sign-in", onclick: () => run(() => auth.signIn("anonymous")) }, "Sign in anonymously"),
      error ? el("p", { "data-testid": "error", role: "alert" }, error) : "",
    );
    return;
  }
  app.replaceChildren(
    el("p", { "data-testid": "status" }, "signed-in"),
    el("p", {}, "User id: ", el("code", { "data-testid": "user-id" }, state.userId)),
    el("p", {}, "users:viewer says: ", el("code", { "data-testid": "viewer-id" }, viewer.id)),
    el("button", { "data-testid": "sign-out", onclick: () => run(() => auth.signOut()) }, "Sign out"),
    error ? el("p", { "data-testid": "error", role: "alert" }, error) : "",
  );
}

// Called now and after every change (sign-in, sign-out, token refresh, another tab).
auth.subscribe((state) => {
  if (state.isAuthenticated && viewer.userId !== state.userId) {
    viewer = { userId: state.userId, id: "" };
    run(() => loadViewer(state.userId));
  }
  render(state);
});
