// convex-auth-wasm with an identity platform instead of Convex Auth: the platform's own browser
// SDK holds the session (here `oidc-client-ts` against an OIDC provider, as Clerk's or Auth0's
// SDK would), the client takes its JWTs through `tokenSource`, stores the user in the app's
// `users` table (`storeUser`, the Convex guide's `users:store`), and drives the official
// reactive client (`attach`): `isAuthenticated` means the backend accepted the token. Messages
// are live through the reactive client's subscription.
import init, { ConvexAuthClient } from "convex-auth-wasm";
import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";
import { UserManager, WebStorageStateStore } from "oidc-client-ts";

const api = anyApi; // api.messages.list is "messages:list"
const query = new URLSearchParams(location.search);
const convexUrl = query.get("convex") ?? "http://127.0.0.1:3210";
// The OIDC issuer (the local backend prints it as `idpUrl`); with Clerk this is your Clerk
// Frontend API URL and the JWT template "convex".
const issuer = query.get("idp");
const app = document.getElementById("app");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

if (!issuer) {
  app.replaceChildren(el("p", {}, "Add ?idp=<OIDC issuer URL> (and ?convex=<deployment>) to the page URL."));
  throw new Error("no ?idp");
}

// The page comes back here from the provider; the redirect keeps ?convex and ?idp.
const back = new URL(location.pathname, location.origin);
back.searchParams.set("convex", convexUrl);
back.searchParams.set("idp", issuer);
const oidc = new UserManager({
  authority: issuer,
  client_id: "convex", // the platform's JWT has `aud: "convex"`, as in auth.config
  redirect_uri: back.href,
  response_type: "code",
  scope: "openid profile email offline_access",
  automaticSilentRenew: false, // convex-auth-wasm asks for a new token before each expiry
  loadUserInfo: false,
  userStore: new WebStorageStateStore({ store: localStorage }),
});
if (query.has("code") && query.has("state")) {
  try {
    await oidc.signinRedirectCallback();
  } finally {
    history.replaceState(null, "", back.pathname + back.search);
  }
}

await init();
const auth = new ConvexAuthClient({
  url: convexUrl,
  tokenSource: {
    // The platform's JWT: a new one when forced (oidc-client-ts uses its refresh token).
    fetchToken: async ({ forceRefreshToken }) => {
      let user = await oidc.getUser();
      if (user && (forceRefreshToken || user.expired)) user = await oidc.signinSilent();
      return user?.id_token ?? null;
    },
    subscribe: (changed) => {
      oidc.events.addUserLoaded(changed);
      oidc.events.addUserUnloaded(changed);
      return () => {
        oidc.events.removeUserLoaded(changed);
        oidc.events.removeUserUnloaded(changed);
      };
    },
    signIn: () => oidc.signinRedirect(),
    signOut: () => oidc.removeUser(),
  },
  storeUser: "users:store",
});
const convex = new ConvexClient(convexUrl);
auth.attach(convex);
window.auth = auth; // for the tests and the devtools console
window.convex = convex;

let messages = [];
let error = "";
convex.onUpdate(api.messages.list, {}, (list) => {
  messages = list;
  render(auth.getSnapshot());
});

async function run(action) {
  error = "";
  try {
    await action();
  } catch (e) {
    error = e.message;
    render(auth.getSnapshot());
  }
}

// The message form is made once: a render (a new message, a token refresh) must not throw away
// what is being typed.
const input = el("input", { "data-testid": "message", placeholder: "Say something" });
const form = el(
  "form",
  {
    onsubmit: (e) => {
      e.preventDefault();
      const body = input.value;
      input.value = "";
      run(() => convex.mutation(api.messages.send, { body }));
    },
  },
  input,
  el("button", { "data-testid": "send" }, "Send"),
);

function render(state) {
  if (state.isLoading) {
    app.replaceChildren(el("p", { "data-testid": "status" }, "loading"));
    return;
  }
  if (!state.isAuthenticated) {
    app.replaceChildren(
      el("p", { "data-testid": "status" }, "signed-out"),
      el("button", { "data-testid": "sign-in", onclick: () => run(() => auth.signIn()) }, "Sign in with the identity platform"),
      error ? el("p", { "data-testid": "error", role: "alert" }, error) : "",
    );
    return;
  }
  app.replaceChildren(
    el("p", { "data-testid": "status" }, "signed-in"),
    el("p", {}, "Platform user: ", el("code", { "data-testid": "user-id" }, state.userId)),
    el("p", {}, "Stored as: ", el("code", { "data-testid": "stored-user-id" }, String(state.storedUserId))),
    form,
    el("ul", { "data-testid": "messages" }, ...messages.map((m) => el("li", {}, m.body))),
    el("button", { "data-testid": "sign-out", onclick: () => run(() => auth.signOut()) }, "Sign out"),
    error ? el("p", { "data-testid": "error", role: "alert" }, error) : "",
  );
}

auth.subscribe(render);
