// The Rust front ends: the Leptos and Yew examples (examples-rust/), built by
// scripts/rust-frontend.sh, in headless Chromium against the local backend. Leptos: anonymous
// sign-in survives a reload; password sign-up, the viewer, a message sent and listed, sign-out,
// password sign-in, a wrong password's error code. Yew: anonymous sign-in, the viewer from the
// typed query is the state's user, sign-out. Any console error or page error fails a test.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { startHarness } from "./harness.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let h;
const sites = {};
before(async () => {
  execFileSync("bash", [`${ROOT}scripts/rust-frontend.sh`], { stdio: "inherit" });
  h = await startHarness();
  for (const app of ["leptos", "yew"]) sites[app] = await h.serve(`${ROOT}examples-rust/${app}`);
}, { timeout: 900_000 });
after(() => h?.close());

/** Opens the app in a fresh context; `errors` collects its console errors and page errors. */
async function open(app) {
  const context = await h.context();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(`${m.text()} (${m.location().url})`));
  await page.goto(`${sites[app]}/test/index.html?convex=${encodeURIComponent(h.convexUrl)}`);
  return { context, page, errors };
}

/** Waits until the element `id` shows exactly `expected`. */
const waitText = (page, id, expected, timeout = 20_000) =>
  page.waitForFunction(
    ([id, expected]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === expected,
    [id, expected],
    { timeout },
  );
const text = (page, id) => page.getByTestId(id).textContent();

/** Chromium's own log line for a Convex function that failed (HTTP 560): the endpoint, or null
 *  for any other console error. */
const failedCall = (line) =>
  /^Failed to load resource: the server responded with a status of 560 \(.*\) \(http:\/\/[^/]+(\/api\/\w+)\)$/.exec(line)?.[1] ?? null;

/** The users id in a stored v1 JWT: its `sub` is `userId|sessionId`. */
function userIdOf(jwt) {
  const payload = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
  return payload.sub.split("|")[0];
}

test("Leptos app: sign in anonymously, reload, sign out", async () => {
  const { context, page, errors } = await open("leptos");
  try {
    await waitText(page, "status", "signed-out");
    await page.getByTestId("sign-in").click();
    await waitText(page, "status", "signed-in");
    const userId = await text(page, "user-id");
    assert.match(userId, /\S+/);
    // The session is in localStorage under the official keys of the "leptos" namespace.
    const jwt = await page.evaluate(() => localStorage.getItem("__convexAuthJWT_leptos"));
    assert.equal(userIdOf(jwt), userId);
    // users:viewer, a typed query with the session's token, is that user.
    await waitText(page, "viewer-id", userId);
    const sent = (await h.requests()).length;
    await page.reload();
    await waitText(page, "status", "signed-in");
    assert.equal(await text(page, "user-id"), userId);
    await waitText(page, "viewer-id", userId);
    // A reload with a valid session sends nothing to Convex Auth: only the app's own queries,
    // with the stored token.
    const calls = (await h.requests()).slice(sent);
    for (const r of calls) {
      assert.ok(["users:viewer", "messages:list"].includes(r.path) && r.hasAuth, `after the reload: ${JSON.stringify(r)}`);
    }
    await page.getByTestId("sign-out").click();
    await waitText(page, "status", "signed-out");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("Leptos app: password sign-up, viewer, messages, sign-out, sign-in, wrong password", async () => {
  const { context, page, errors } = await open("leptos");
  const email = `leptos-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  try {
    await waitText(page, "status", "signed-out");
    await page.getByTestId("email").fill(email);
    await page.getByTestId("password").fill(password);
    await page.getByTestId("sign-up").click();
    await waitText(page, "status", "signed-in");
    const userId = await text(page, "user-id");
    // users:viewer (typed query) is the new user, with the email signed up with.
    await waitText(page, "viewer-email", email);
    assert.equal(await text(page, "viewer-id"), userId);

    // No message yet; one sent with the typed mutation is listed after the list is refreshed.
    await page.getByTestId("messages").waitFor({ state: "attached" });
    assert.equal(await page.getByTestId("message").count(), 0);
    await page.getByTestId("draft").fill("Hello from Leptos");
    await page.getByTestId("send").click();
    await page.getByTestId("message").filter({ hasText: "Hello from Leptos" }).waitFor();
    assert.equal(await page.getByTestId("message").count(), 1);
    assert.equal(await page.getByTestId("draft").inputValue(), "");

    // The app's own ConvexError (an empty message) is shown with its code, read by data_as.
    await page.getByTestId("send").click();
    await waitText(page, "error-code", "INVALID_MESSAGE");
    assert.equal(await page.getByTestId("message").count(), 1);

    await page.getByTestId("sign-out").click();
    await waitText(page, "status", "signed-out");
    assert.equal(await page.getByTestId("message").count(), 0);

    // Signed in again with the password: the same user, the message still there.
    await page.getByTestId("email").fill(email);
    await page.getByTestId("password").fill(password);
    await page.getByTestId("sign-in-password").click();
    await waitText(page, "status", "signed-in");
    assert.equal(await text(page, "user-id"), userId);
    await waitText(page, "viewer-email", email);
    await page.getByTestId("message").filter({ hasText: "Hello from Leptos" }).waitFor();

    // A wrong password: still signed out, the error's code on the page.
    await page.getByTestId("sign-out").click();
    await waitText(page, "status", "signed-out");
    await page.getByTestId("email").fill(email);
    await page.getByTestId("password").fill("not the password");
    await page.getByTestId("sign-in-password").click();
    await waitText(page, "error-code", "InvalidSecret");
    assert.equal(await text(page, "status"), "signed-out");
    // The console shows the two failed calls provoked above (Chromium logs a 560 answer), and
    // nothing else.
    assert.deepEqual(errors.map(failedCall), ["/api/mutation", "/api/action"], errors.join("\n"));
  } finally {
    await context.close();
  }
});

test("Yew app: sign in anonymously, the viewer is the state's user, sign out", async () => {
  const { context, page, errors } = await open("yew");
  try {
    await waitText(page, "status", "signed-out");
    await page.getByTestId("sign-in").click();
    await waitText(page, "status", "signed-in");
    const userId = await text(page, "user-id");
    assert.match(userId, /\S+/);
    const jwt = await page.evaluate(() => localStorage.getItem("__convexAuthJWT_yew"));
    assert.equal(userIdOf(jwt), userId);
    // users:viewer through the typed query: the same user.
    await waitText(page, "viewer-id", userId);
    await page.getByTestId("sign-out").click();
    await waitText(page, "status", "signed-out");
    assert.equal(await page.evaluate(() => localStorage.getItem("__convexAuthJWT_yew")), null);
    assert.equal(await page.getByTestId("viewer-id").count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
