// The demo page: sign up with a password, see the user, save a screenshot; then, served with
// both backends as `make demo` serves it, switch to Convex Auth v2 and run its flows.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { RESULTS, startHarness, virtualAuthenticator } from "./harness.mjs";
import { freePort, startNode, stop } from "./processes.mjs";

let h;
// The v2 pass: a v2 backend whose SITE_URL is the page's origin (its links and OAuth return
// there) and a page server that knows both backends (CONVEX_URL and CONVEX_URL_V2).
let v2 = null;
const children = [];
before(async () => {
  h = await startHarness();
  const port = await freePort();
  const pageUrl = `http://localhost:${port}`;
  const backend = await startNode("www/v2/backend/main.mjs", { PORT: "0", SITE_URL: pageUrl }, children);
  await startNode("www/serve.mjs", { PORT: String(port), CONVEX_URL: h.convexUrl, CONVEX_URL_V2: backend.info.url, IDP_URL: h.idpUrl }, children);
  v2 = { pageUrl, convexUrl: backend.info.url };
});
after(async () => {
  for (const child of children.reverse()) await stop(child);
  await h?.close();
});

const waitReady = (page) => page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 20_000 });
/** Clicks an outbox link to `path` and waits for the page it opens to be ready. */
async function openLink(page, path) {
  await page.evaluate(() => (window.__before = true));
  await Promise.all([
    page.waitForRequest((r) => r.isNavigationRequest() && new URL(r.url()).pathname === path && new URL(r.url()).searchParams.has("code")),
    page.getByTestId("outbox-link").filter({ hasText: path }).click(),
  ]);
  await page.waitForFunction(() => !window.__before && document.body.dataset.ready === "true", null, { timeout: 20_000 });
}
const authenticated = (page, value) => page.getByTestId("is-authenticated").filter({ hasText: String(value) }).waitFor();

test("the demo signs up, shows the user and their messages", async () => {
  const context = await h.context();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(h.pageUrl);
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 20_000 });
  await page.locator("#dev-panel").waitFor({ state: "visible" });

  const form = page.getByTestId("password-form");
  await form.getByLabel("Email").fill("demo@example.com");
  await form.getByLabel("Password").fill("correct horse battery");
  await page.getByTestId("sign-up").click();
  await page.locator("#signed-in").waitFor({ state: "visible" });
  await page.getByTestId("is-authenticated").filter({ hasText: "true" }).waitFor();
  await page.locator("#user-detail").filter({ hasText: "demo@example.com" }).waitFor();

  await page.getByLabel("Message").fill("Hello from the demo");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByTestId("messages").filter({ hasText: "Hello from the demo" }).waitFor();
  await page.getByTestId("event-log").filter({ hasText: "signedIn" }).waitFor();

  await page.screenshot({ path: `${RESULTS}/demo-signup.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the demo's v2 backend: sign-up through the emailed link, reset, passkey, username, GitHub, anonymous, sign-out", async () => {
  const context = await h.context();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // A platform authenticator that always says yes, for the passkey ceremony.
  await virtualAuthenticator(context, page);
  try {
    // The page opens on v1; the switch reloads it on v2, with v2's flows only.
    await page.goto(v2.pageUrl);
    await waitReady(page);
    assert.match(await page.locator("#backend-pill").textContent(), /^v1 · /);
    await Promise.all([page.waitForURL(/[?&]backend=v2/), page.getByTestId("backend-select").selectOption("v2")]);
    await waitReady(page);
    assert.equal(await page.locator("#backend-pill").textContent(), `v2 · ${new URL(v2.convexUrl).host}`);
    assert.equal(await page.getByRole("tab", { name: "Magic link" }).count(), 0);
    assert.equal(await page.getByRole("tab", { name: "Passkey" }).count(), 1);
    await page.locator("#dev-panel").waitFor({ state: "visible" });

    // Email + password sign-up: a link is emailed; opening it here completes the sign-up.
    const email = `demo-${Date.now()}@example.com`;
    const form = page.getByTestId("password-form");
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password").fill("correct horse battery");
    await page.getByTestId("sign-up").click();
    await page.locator("#flow-status").filter({ hasText: "check the outbox for the link" }).waitFor();
    await openLink(page, "/validate-email");
    await authenticated(page, true);
    await page.locator("#user-detail").filter({ hasText: email }).waitFor();
    assert.equal(new URL(page.url()).search, "?backend=v2", "the link's code left the address bar");
    const state = await page.evaluate(() => window.auth.getSnapshot());
    assert.match(state.userId ?? "", /\S/);
    assert.match(state.sessionId ?? "", /\S/);
    assert.equal(await page.locator("#s-user").textContent(), state.userId);
    await page.getByLabel("Message").fill("Hello from v2");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByTestId("messages").filter({ hasText: "Hello from v2" }).waitFor();
    await page.screenshot({ path: `${RESULTS}/demo-v2-signup.png`, fullPage: true });

    await page.getByTestId("sign-out").click();
    await authenticated(page, false);

    // Reset: the link fills in its code, the page asks for a new password.
    await page.getByRole("tab", { name: "Reset" }).click();
    await page.getByTestId("reset-request-form").getByLabel("Email").fill(email);
    await page.getByTestId("reset-request-form").getByRole("button").click();
    await openLink(page, "/reset-password");
    assert.equal(new URL(page.url()).search, "?backend=v2");
    const reset = page.getByTestId("reset-verify-form");
    await reset.getByLabel("New password").fill("another horse battery");
    await reset.getByRole("button").click();
    await authenticated(page, true);
    await page.locator("#user-detail").filter({ hasText: email }).waitFor();
    assert.equal(await page.evaluate(() => window.auth.getSnapshot().userId), state.userId);
    await page.getByTestId("sign-out").click();
    await authenticated(page, false);

    // A passkey for a new username: the server asks for a registration.
    await page.getByRole("tab", { name: "Passkey" }).click();
    const username = `demo${Date.now()}`;
    await page.getByTestId("passkey-form").getByLabel("Username").fill(username);
    await page.getByTestId("passkey-form").getByRole("button").click();
    await authenticated(page, true);
    await page.locator("#user-detail").filter({ hasText: `username ${username}` }).waitFor();
    await page.getByTestId("sign-out").click();
    await authenticated(page, false);

    // Username + password; then a wrong password.
    await page.getByRole("tab", { name: "Username" }).click();
    const userForm = page.getByTestId("username-form");
    await userForm.getByLabel("Username").fill(`${username}-pw`);
    await userForm.getByLabel("Password").fill("correct horse battery");
    await userForm.getByRole("button", { name: "Sign up" }).click();
    await authenticated(page, true);
    await page.locator("#user-detail").filter({ hasText: `username ${username}-pw` }).waitFor();
    await page.getByTestId("sign-out").click();
    await authenticated(page, false);
    await userForm.getByLabel("Password").fill("wrong horse battery");
    await userForm.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#flow-status").filter({ hasText: "Wrong email, username or password." }).waitFor();

    // GitHub through the local OAuth mock: back on this page with ?convexAuthCode=, which the
    // client completes before ready() and takes out of the address bar.
    await page.getByRole("tab", { name: "OAuth & anonymous" }).click();
    await page.evaluate(() => (window.__before = true));
    await page.getByRole("button", { name: "Continue with GitHub" }).click();
    await page.waitForFunction(() => !window.__before && document.body.dataset.ready === "true", null, { timeout: 20_000 });
    await authenticated(page, true);
    await page.locator("#user-detail").filter({ hasText: "via github" }).waitFor();
    assert.equal(new URL(page.url()).search, "?backend=v2");
    await page.getByTestId("sign-out").click();
    await authenticated(page, false);

    // Anonymous.
    await page.getByRole("tab", { name: "OAuth & anonymous" }).click();
    await page.getByTestId("anonymous").click();
    await authenticated(page, true);
    await page.locator("#user-detail").filter({ hasText: "anonymous" }).waitFor();
    await page.getByTestId("sign-out").click();
    await authenticated(page, false);
    assert.equal(await page.locator("#s-user").textContent(), "—");
    await page.getByTestId("event-log").filter({ hasText: "signedOut" }).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("the demo's identity-platform mode: OIDC sign-in, the stored user, live messages through the reactive client, sign-out", async () => {
  const context = await h.context();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  try {
    await page.goto(`${v2.pageUrl}/?backend=platform`);
    await waitReady(page);
    assert.equal(await page.getByTestId("backend-select").inputValue(), "platform");
    await authenticated(page, false);
    // The platform SDK's redirect to the OIDC mock and back.
    await page.getByTestId("platform-sign-in").click();
    await page.waitForURL((u) => u.searchParams.get("backend") === "platform" && !u.searchParams.has("code"), { timeout: 20_000 });
    await waitReady(page);
    await authenticated(page, true);
    await page.locator("#user-name").filter({ hasText: "Mona Octocat" }).waitFor();
    await page.locator("#user-detail").filter({ hasText: "stored for" }).waitFor();
    await page.getByLabel("Message").fill("Hello from the platform");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByTestId("messages").filter({ hasText: "Hello from the platform" }).waitFor();
    await page.screenshot({ path: `${RESULTS}/demo-platform.png`, fullPage: true });
    await page.getByTestId("sign-out").click();
    await authenticated(page, false);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
