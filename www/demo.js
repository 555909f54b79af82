// The demo page: every flow of ConvexAuthClient against the configured Convex deployment.
import init, { ConvexAuthClient } from "convex-auth-wasm";
import { CONVEX_URL } from "/config.js";

const $ = (id) => document.getElementById(id);
const STORAGE_KEY = "convex-auth-wasm-demo:storage";

function fatal(message) {
  $("fatal").hidden = false;
  $("fatal").textContent = message;
}

await init();

// ---- the client ----
const storage = localStorage.getItem(STORAGE_KEY) ?? "localStorage";
$("storage-select").value = storage;
$("backend-pill").textContent = new URL(CONVEX_URL).host;
let auth;
try {
  auth = new ConvexAuthClient({ url: CONVEX_URL, storage, verbose: new URLSearchParams(location.search).has("verbose") });
} catch (error) {
  fatal(`Storage "${storage}" is not available (${error.code}: ${error.message}); using localStorage.`);
  localStorage.removeItem(STORAGE_KEY);
  $("storage-select").value = "localStorage";
  auth = new ConvexAuthClient({ url: CONVEX_URL });
}
window.auth = auth; // for the console: try `await auth.fetchAccessToken({forceRefreshToken: true})`

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
  if (state.userId !== lastUser) {
    lastUser = state.userId;
    if (state.isAuthenticated) loadUser();
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
  const response = await auth.fetch(`${CONVEX_URL}/api/${kind}`, {
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
    const [user, messages] = await Promise.all([call("query", "users:viewer"), call("query", "messages:list")]);
    const name = user?.name ?? user?.email ?? (user?.isAnonymous ? "Anonymous user" : "User");
    $("user-name").textContent = name;
    $("avatar").textContent = name.slice(0, 1).toUpperCase();
    $("user-detail").textContent = [user?.email, user?.isAnonymous ? "anonymous" : null, `id ${short(user?._id)}`]
      .filter(Boolean)
      .join(" · ");
    renderMessages(messages);
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
$("message-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  try {
    await call("mutation", "messages:send", { body: form.body.value });
    form.reset();
    renderMessages(await call("query", "messages:list"));
  } catch (error) {
    status(error.message, "error");
  }
});

// ---- sign-in flows ----
function status(text, kind = "") {
  $("flow-status").textContent = text;
  $("flow-status").className = `status ${kind}`;
}
function describe(error) {
  const hints = {
    InvalidSecret: "Wrong password.",
    InvalidAccountId: "No account with that email.",
    TooManyFailedAttempts: "Too many failed attempts; try again later.",
    InvalidCode: "That code is wrong or expired.",
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
    else status(`${label}: check the outbox for the code or link.`, "ok");
    refreshOutbox();
  } catch (error) {
    status(describe(error), "error");
    refreshOutbox();
  }
}
const fields = (form) => Object.fromEntries(new FormData(form));

$("password-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const flow = e.submitter?.value ?? "signIn";
  const params = new FormData(e.target);
  params.set("flow", flow);
  run(flow === "signUp" ? "Sign up" : "Sign in", () => auth.signIn("password", params));
});
$("reset-request-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const { email } = fields(e.target);
  $("reset-verify-form").email.value = email;
  run("Reset code", () => auth.signIn("password", { email, flow: "reset" }));
});
$("reset-verify-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run("New password", () => auth.signIn("password", { ...fields(e.target), flow: "reset-verification" }));
});
$("verify-signup-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = fields(e.target);
  $("verify-code-form").email.value = f.email;
  run("Verified sign-up", () => auth.signIn("password-verify", { ...f, flow: "signUp" }));
});
$("verify-code-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run("Email verification", () => auth.signIn("password-verify", { ...fields(e.target), flow: "email-verification" }));
});
$("otp-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const { email, code } = fields(e.target);
  if (e.submitter?.value === "verify") run("Code sign-in", () => auth.signIn("email-otp", { email, code }));
  else run("Code", () => auth.signIn("email-otp", { email }));
});
$("magic-form").addEventListener("submit", (e) => {
  e.preventDefault();
  run("Magic link", () => auth.signIn("magic-link", fields(e.target)));
});
$("github-btn").addEventListener("click", () => run("GitHub", () => auth.signIn("github")));
$("oidc-btn").addEventListener("click", () => run("Mock OIDC", () => auth.signIn("mock-oidc")));
$("anon-btn").addEventListener("click", () => run("Anonymous", () => auth.signIn("anonymous")));
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

// ---- the developer panel (only against the local backend) ----
let local = false;
async function refreshOutbox() {
  if (!local) return;
  const { messages } = await fetch(`${CONVEX_URL}/_test/outbox`).then((r) => r.json());
  const list = $("outbox");
  list.innerHTML = messages.length ? "" : `<li class="muted">Empty.</li>`;
  for (const m of messages.slice().reverse()) {
    const li = document.createElement("li");
    const what = document.createElement("span");
    what.textContent = `${m.provider} → ${m.to}`;
    const code = document.createElement("span");
    code.className = "code";
    code.textContent = m.provider === "magic-link" ? "" : m.code;
    li.append(what, code);
    if (m.provider === "magic-link") {
      const a = document.createElement("a");
      a.href = m.url;
      a.textContent = "Open magic link";
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
  await fetch(`${CONVEX_URL}/_test/idp/user`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  status(`The OAuth mock now signs in ${f.sub}.`, "ok");
});
try {
  const health = await fetch(`${CONVEX_URL}/_test/health`).then((r) => (r.ok ? r.json() : null));
  local = health?.ok === true;
} catch {
  local = false;
}
if (local) {
  $("dev-panel").hidden = false;
  const idp = await fetch(`${CONVEX_URL}/_test/idp/user`).then((r) => r.json());
  const form = $("idp-form");
  form.sub.value = idp.sub;
  form.email.value = idp.email ?? "";
  form.name.value = idp.name ?? "";
  refreshOutbox();
  setInterval(() => document.visibilityState === "visible" && refreshOutbox(), 3000);
}

await auth.ready();
document.body.dataset.ready = "true";
