// The demo page: every flow of ConvexAuthClient against the configured Convex deployments.
// `?backend=v1` (Convex Auth 0.0.x, CONVEX_URL) or `?backend=v2` (Convex Auth 2.0, CONVEX_URL_V2)
// picks the one the client talks to; v2's emailed links land on /validate-email and
// /reset-password, which are v2 pages too.
import init, { ConvexAuthClient } from "convex-auth-wasm";
import { ConvexClient } from "convex/browser";
import { anyApi as api } from "convex/server";
import { UserManager, WebStorageStateStore } from "oidc-client-ts";
import { CONVEX_URL, CONVEX_URL_V2, IDP_URL } from "/config.js";

const $ = (id) => document.getElementById(id);
const on = (id, type, listener) => $(id)?.addEventListener(type, listener); // absent in the other version
const STORAGE_KEY = "convex-auth-wasm-demo:storage";

function fatal(message) {
  $("fatal").hidden = false;
  $("fatal").textContent = message;
}

// ---- which backend ----
const query = new URLSearchParams(location.search);
// `platform`: an identity platform (the backend's OIDC mock) on the v1 deployment.
const DEPLOYMENTS = { v1: CONVEX_URL ?? null, v2: CONVEX_URL_V2 ?? null, platform: (IDP_URL && CONVEX_URL) || null };
// v2's email links: the page reads their plain `?code=` and passes it to signIn (the client
// leaves it alone in v2).
const LINK_FLOWS = { "/validate-email": "email-verification", "/reset-password": "reset-verification" };
const linkFlow = LINK_FLOWS[location.pathname.replace(/\/+$/, "")] ?? null;
let version = query.get("backend") ?? (linkFlow ? "v2" : DEPLOYMENTS.v1 ? "v1" : "v2");
if (!Object.hasOwn(DEPLOYMENTS, version)) {
  fatal(`Unknown backend "${version}" (use ?backend=v1, v2 or platform); showing v1.`);
  version = "v1";
}
if (DEPLOYMENTS[version] === null) {
  const other = version === "v1" ? "v2" : "v1";
  const needs = { v1: "CONVEX_URL", v2: "CONVEX_URL_V2", platform: "CONVEX_URL and IDP_URL" }[version];
  fatal(`No ${version} deployment is configured (${needs}); showing ${other}.`);
  version = other;
}
const platform = version === "platform";
const CONVEX = DEPLOYMENTS[version];
// Only this version's flows stay on the page.
for (const el of document.querySelectorAll("[data-version]")) if (el.dataset.version !== version) el.remove();
// The platform signs in with its own SDK: no Convex Auth flow is shown.
if (platform) for (const el of document.querySelectorAll("[data-tab]:not([data-version]), [data-panel]:not([data-version])")) el.remove();
document.body.dataset.backend = version;
document.title = `${document.title} · Convex Auth ${version}`;
const backendSelect = $("backend-select");
backendSelect.value = version;
for (const option of backendSelect.options) {
  if (DEPLOYMENTS[option.value] === null) {
    option.disabled = true;
    option.textContent += " (not configured)";
  }
}
backendSelect.addEventListener("change", () => {
  const next = new URL("/", location.href);
  next.searchParams.set("backend", backendSelect.value);
  if (query.has("verbose")) next.searchParams.set("verbose", "");
  location.assign(next);
});
$("backend-pill").textContent = `${version} · ${new URL(CONVEX).host}`;
// A link's code is used once: keep it here and take it out of the address bar, so that a reload
// does not send it again.
const linkCode = version === "v2" && linkFlow ? query.get("code") : null;
if (linkCode !== null) history.replaceState(null, "", "/?backend=v2");

// ---- the identity platform's SDK (platform mode): an OIDC client against the backend's mock ----
let oidc = null;
if (platform) {
  oidc = new UserManager({
    authority: IDP_URL,
    client_id: "convex", // its JWTs have `aud: "convex"`, the second issuer of www/convex/auth.config.js
    redirect_uri: new URL("/?backend=platform", location.href).href,
    response_type: "code",
    scope: "openid profile email offline_access",
    automaticSilentRenew: false, // the client asks for a new token before each expiry
    loadUserInfo: false,
    userStore: new WebStorageStateStore({ store: localStorage }),
  });
  if (query.has("code") && query.has("state")) {
    try {
      await oidc.signinRedirectCallback();
    } catch (error) {
      fatal(`The identity platform's sign-in failed: ${error.message}`);
    } finally {
      history.replaceState(null, "", "/?backend=platform");
    }
  }
}

await init();

// ---- the client ----
const storage = localStorage.getItem(STORAGE_KEY) ?? "localStorage";
$("storage-select").value = storage;
let auth;
try {
  auth = platform
    ? new ConvexAuthClient({
        url: CONVEX,
        tokenSource: {
          fetchToken: async ({ forceRefreshToken }) => {
            let user = await oidc.getUser();
            if (user && (forceRefreshToken || user.expired)) user = await oidc.signinSilent();
            return user?.id_token ?? null;
          },
          subscribe: (changed) => {
            oidc.events.addUserLoaded(changed);
            oidc.events.addUserUnloaded(changed);
          },
          signIn: () => oidc.signinRedirect(),
          signOut: () => oidc.removeUser(),
        },
        storeUser: "users:store",
        currentUser: "users:current",
        verbose: query.has("verbose"),
      })
    : new ConvexAuthClient({ url: CONVEX, version, storage, verbose: query.has("verbose") });
} catch (error) {
  fatal(`Storage "${storage}" is not available (${error.code}: ${error.message}); using localStorage.`);
  localStorage.removeItem(STORAGE_KEY);
  $("storage-select").value = "localStorage";
  auth = new ConvexAuthClient({ url: CONVEX, version });
}
window.auth = auth; // for the console: try `await auth.fetchAccessToken({forceRefreshToken: true})`
// Platform mode: the official reactive client, attached (server-confirmed state, live messages).
const convex = platform ? new ConvexClient(CONVEX) : null;
if (platform) {
  auth.attach(convex);
  $("storage-select").disabled = true; // the platform keeps its own session
}

$("storage-select").addEventListener("change", (e) => {
  localStorage.setItem(STORAGE_KEY, e.target.value);
  location.reload();
});

// ---- the event log ----
const time = () => new Date().toLocaleTimeString([], { hour12: false });
function logEvent(type, detail) {
  const li = document.createElement("li");
  li.innerHTML = `<span class="t"></span><span class="type"></span><span class="d"></span>`;
  li.children[0].textContent = time();
  li.children[1].textContent = type;
  li.children[1].classList.add(type);
  li.children[2].textContent = detail ?? "";
  $("event-log").prepend(li);
}
auth.onChange((event) => {
  const s = event.state;
  const detail =
    event.type === "error"
      ? `${event.error.code}: ${event.error.message}`
      : s.isAuthenticated
        ? `user ${short(s.userId)}, expires ${new Date(s.expiresAt).toLocaleTimeString([], { hour12: false })}`
        : "signed out";
  logEvent(event.type, detail);
});
$("clear-log").addEventListener("click", () => ($("event-log").innerHTML = ""));

// ---- the state panel ----
const short = (id) => (id ? `${id.slice(0, 6)}…${id.slice(-4)}` : "—");
function setFlag(el, value) {
  el.textContent = String(value);
  el.className = value ? "yes" : "no";
}
let lastUser = undefined;
function render(state) {
  $("s-loading").textContent = String(state.isLoading);
  setFlag($("s-auth"), state.isAuthenticated);
  $("s-user").textContent = state.userId ?? "—";
  $("s-session").textContent = state.sessionId ?? "—";
  $("signout-btn").disabled = !state.isAuthenticated;
  $("refresh-btn").disabled = !state.isAuthenticated;
  $("signed-in").hidden = !state.isAuthenticated;
  tick();
  // Once per signed-in user (a platform user counts once stored and found).
  const signedInAs = state.isAuthenticated ? String(state.userId) : undefined;
  if (signedInAs !== lastUser) {
    lastUser = signedInAs;
    if (signedInAs !== undefined) loadUser();
  }
}
function tick() {
  const { expiresAt } = auth.getSnapshot();
  if (expiresAt === null) {
    $("s-expiry").textContent = "—";
    return;
  }
  const s = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  $("s-expiry").textContent = s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
setInterval(tick, 1000);
auth.subscribe(render);

// ---- Convex functions over the HTTP API, with the JWT attached by auth.fetch ----
async function call(kind, path, args = {}) {
  const response = await auth.fetch(`${CONVEX}/api/${kind}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path, args, format: "json" }),
  });
  const body = await response.json().catch(() => null);
  if (body?.status === "success") return body.value;
  const message = body?.errorData?.message ?? body?.errorMessage ?? body?.message ?? `HTTP ${response.status}`;
  throw new Error(message.replace(/^\[Request ID: [^\]]+\] Server Error\n/, ""));
}

async function loadUser() {
  try {
    // Platform mode: the user is `currentUser`'s (state.user), the messages come live.
    const [user, messages] = platform
      ? [auth.getSnapshot().user, null]
      : await Promise.all([call("query", "users:viewer"), call("query", "messages:list")]);
    const name = user?.name ?? user?.email ?? user?.username ?? (user?.isAnonymous ? "Anonymous user" : "User");
    $("user-name").textContent = name;
    $("avatar").textContent = name.slice(0, 1).toUpperCase();
    $("user-detail").textContent = [
      user?.email,
      user?.username ? `username ${user.username}` : null,
      user?.isAnonymous ? "anonymous" : null,
      user?.method ? `via ${user.method}` : null,
      user?.tokenIdentifier ? `stored for ${user.tokenIdentifier}` : null,
      `id ${short(user?._id)}`,
    ]
      .filter(Boolean)
      .join(" · ");
    if (messages) renderMessages(messages);
  } catch (error) {
    $("user-detail").textContent = `Could not load the user: ${error.message}`;
  }
}
function renderMessages(messages) {
  const list = $("messages");
  list.innerHTML = "";
  if (messages.length === 0) list.innerHTML = `<li class="muted">No messages yet.</li>`;
  for (const m of messages) {
    const li = document.createElement("li");
    li.textContent = m.body;
    list.append(li);
  }
}
on("message-form", "submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  try {
    if (platform) {
      // Through the reactive client: the subscription below shows it.
      await convex.mutation(api.messages.send, { body: form.body.value });
      form.reset();
      return;
    }
    await call("mutation", "messages:send", { body: form.body.value });
    form.reset();
    renderMessages(await call("query", "messages:list"));
  } catch (error) {
    status(error.message, "error");
  }
});

if (platform) convex.onUpdate(api.messages.list, {}, renderMessages);

// ---- sign-in flows ----
function status(text, kind = "") {
  $("flow-status").textContent = text;
  $("flow-status").className = `status ${kind}`;
}
function describe(error) {
  const hints = {
    // v1 (the server's ConvexError messages)
    InvalidSecret: "Wrong password.",
    InvalidAccountId: "No account with that email.",
    TooManyFailedAttempts: "Too many failed attempts; try again later.",
    InvalidCode: "That code is wrong or expired.",
    // v2 (2.0's error codes)
    INVALID_CREDENTIALS: "Wrong email, username or password.",
    USER_NOT_FOUND: "No account with that email or username.",
    EMAIL_NOT_FOUND: "No account with that email.",
    EMAIL_TAKEN: "That email already has an account: sign in instead.",
    USERNAME_TAKEN: "That username is taken.",
    RATE_LIMITED: "Too many attempts; try again later.",
    INVALID_CODE: "That link is wrong, used or expired.",
    EXPIRED: "That link has expired; start again.",
    MISSING_SECRET: "Open the link in the browser (and storage) where you started; memory storage forgets it.",
    PASSWORD_TOO_SHORT: "That password is too short.",
    PASSWORD_TOO_COMMON: "That password is too common.",
    PasskeyCancelled: "The passkey prompt was cancelled.",
    PasskeyUnsupported: "This browser has no WebAuthn.",
    // both
    Network: "The server cannot be reached; try again.",
  };
  return hints[error.code] ?? `${error.code ?? "Error"}: ${error.message}`;
}
async function run(label, action) {
  status(`${label}…`);
  try {
    const result = await action();
    if (result?.signingIn) status(`${label}: signed in.`, "ok");
    else if (result?.redirect) status(`Redirecting to ${result.redirect.host}…`);
    else status(`${label}: check the outbox for the ${version === "v2" ? "link" : "code or link"}.`, "ok");
    refreshOutbox();
  } catch (error) {
    status(describe(error), "error");
    refreshOutbox();
  }
}
const fields = (form) => Object.fromEntries(new FormData(form));

on("password-form", "submit", (e) => {
  e.preventDefault();
  const flow = e.submitter?.value ?? "signIn";
  const params = new FormData(e.target);
  params.set("flow", flow);
  run(flow === "signUp" ? "Sign up" : "Sign in", () => auth.signIn("password", params));
});
on("reset-request-form", "submit", (e) => {
  e.preventDefault();
  const { email } = fields(e.target);
  if ($("reset-verify-form").email) $("reset-verify-form").email.value = email;
  run("Reset code", () => auth.signIn("password", { email, flow: "reset" }));
});
on("reset-verify-form", "submit", (e) => {
  e.preventDefault();
  run("New password", () => auth.signIn("password", { ...fields(e.target), flow: "reset-verification" }));
});
on("verify-signup-form", "submit", (e) => {
  e.preventDefault();
  const f = fields(e.target);
  $("verify-code-form").email.value = f.email;
  run("Verified sign-up", () => auth.signIn("password-verify", { ...f, flow: "signUp" }));
});
on("verify-code-form", "submit", (e) => {
  e.preventDefault();
  run("Email verification", () => auth.signIn("password-verify", { ...fields(e.target), flow: "email-verification" }));
});
on("otp-form", "submit", (e) => {
  e.preventDefault();
  const { email, code } = fields(e.target);
  if (e.submitter?.value === "verify") run("Code sign-in", () => auth.signIn("email-otp", { email, code }));
  else run("Code", () => auth.signIn("email-otp", { email }));
});
on("magic-form", "submit", (e) => {
  e.preventDefault();
  run("Magic link", () => auth.signIn("magic-link", fields(e.target)));
});
on("username-form", "submit", (e) => {
  e.preventDefault();
  const flow = e.submitter?.value ?? "signIn";
  run(flow === "signUp" ? "Username sign-up" : "Username sign-in", () =>
    auth.signIn("username-password", { ...fields(e.target), flow }),
  );
});
on("passkey-form", "submit", (e) => {
  e.preventDefault();
  run("Passkey", () => auth.signIn("passkey", fields(e.target)));
});
on("github-btn", "click", () => run("GitHub", () => auth.signIn("github")));
on("oidc-btn", "click", () => run("Mock OIDC", () => auth.signIn("mock-oidc")));
on("anon-btn", "click", () => run("Anonymous", () => auth.signIn("anonymous")));
on("platform-btn", "click", () => run("Identity platform", () => auth.signIn()));
$("signout-btn").addEventListener("click", async () => {
  await auth.signOut();
  status("Signed out.");
});
$("refresh-btn").addEventListener("click", async () => {
  await auth.fetchAccessToken({ forceRefreshToken: true });
});

for (const tab of document.querySelectorAll("[data-tab]")) {
  tab.addEventListener("click", () => showTab(tab.dataset.tab));
}
function showTab(name) {
  for (const t of document.querySelectorAll("[data-tab]")) t.setAttribute("aria-selected", String(t.dataset.tab === name));
  for (const p of document.querySelectorAll("[data-panel]")) p.hidden = p.dataset.panel !== name;
}
if (platform) showTab("platform");

// ---- the developer panel (only against the local backend) ----
let local = false;
async function refreshOutbox() {
  if (!local) return;
  const { messages } = await fetch(`${CONVEX}/_test/outbox`).then((r) => r.json());
  const list = $("outbox");
  list.innerHTML = messages.length ? "" : `<li class="muted">Empty.</li>`;
  for (const m of messages.slice().reverse()) {
    const li = document.createElement("li");
    const what = document.createElement("span");
    // v2's messages are links (with a subject); v1's are codes, or a magic link.
    const isLink = m.provider === "magic-link" || (version === "v2" && m.url);
    what.textContent = `${version === "v2" ? (m.subject ?? m.provider) : m.provider} → ${m.to}`;
    const code = document.createElement("span");
    code.className = "code";
    code.textContent = isLink ? "" : m.code;
    li.append(what, code);
    if (isLink) {
      const a = document.createElement("a");
      a.href = m.url;
      a.dataset.testid = "outbox-link";
      a.textContent = m.provider === "magic-link" ? "Open magic link" : `Open ${new URL(m.url).pathname}`;
      li.append(a);
    } else {
      const use = document.createElement("button");
      use.className = "link";
      use.textContent = "Use code";
      use.addEventListener("click", () => useCode(m));
      li.append(use);
    }
    list.append(li);
  }
}
function useCode(m) {
  const target = {
    "email-otp": ["otp", "otp-form"],
    "password-reset": ["reset", "reset-verify-form"],
    "password-verify-code": ["verify", "verify-code-form"],
  }[m.provider];
  if (!target) return;
  showTab(target[0]);
  const form = $(target[1]);
  form.email.value = m.to;
  form.code.value = m.code;
  (form.newPassword ?? form.code).focus();
}
$("outbox-refresh").addEventListener("click", refreshOutbox);
$("idp-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = fields(e.target);
  const body = { sub: f.sub, ...(f.email ? { email: f.email } : {}), ...(f.name ? { name: f.name } : {}) };
  await fetch(`${CONVEX}/_test/idp/user`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  status(`The OAuth mock now signs in ${f.sub}.`, "ok");
});
try {
  const health = await fetch(`${CONVEX}/_test/health`).then((r) => (r.ok ? r.json() : null));
  local = health?.ok === true;
} catch {
  local = false;
}
if (local) {
  $("dev-panel").hidden = false;
  const idp = await fetch(`${CONVEX}/_test/idp/user`).then((r) => r.json());
  const form = $("idp-form");
  form.sub.value = idp.sub;
  form.email.value = idp.email ?? "";
  form.name.value = idp.name ?? "";
  refreshOutbox();
  setInterval(() => document.visibilityState === "visible" && refreshOutbox(), 3000);
}

await auth.ready();
document.body.dataset.ready = "true";

// ---- v2's email links, landed on /validate-email or /reset-password ----
if (linkCode !== null && linkFlow === "email-verification") {
  showTab("password");
  await run("Email verification", () => auth.signIn("password", { code: linkCode, flow: "email-verification" }));
} else if (linkCode !== null) {
  showTab("reset");
  const form = $("reset-verify-form");
  form.code.value = linkCode;
  form.newPassword.focus();
  status("Reset link opened: choose a new password.", "ok");
}
