// The Rust front end: the Leptos example (examples-rust/leptos), built by scripts/rust-frontend.sh,
// signs in, survives a reload and signs out in headless Chromium against the local backend.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { startHarness } from "./harness.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
let h;
let siteUrl;
before(async () => {
  execFileSync("bash", [`${ROOT}scripts/rust-frontend.sh`], { stdio: "inherit" });
  h = await startHarness();
  siteUrl = await h.serve(`${ROOT}examples-rust/leptos`);
}, { timeout: 900_000 });
after(() => h?.close());

test("Leptos app: sign in anonymously, reload, sign out", async () => {
  const context = await h.context();
  const page = await context.newPage();
  const url = `${siteUrl}/test/index.html?convex=${encodeURIComponent(h.convexUrl)}`;
  await page.goto(url);
  const status = page.getByTestId("status");
  await status.filter({ hasText: "signed-out" }).waitFor({ timeout: 20_000 });
  await page.getByTestId("sign-in").click();
  await status.filter({ hasText: "signed-in" }).waitFor();
  const userId = await page.getByTestId("user-id").textContent();
  assert.match(userId, /\S+/);
  // The session is in localStorage under the official keys of the "leptos" namespace.
  assert.ok(await page.evaluate(() => localStorage.getItem("__convexAuthJWT_leptos") !== null));
  const sent = (await h.requests()).length;
  await page.reload();
  await status.filter({ hasText: "signed-in" }).waitFor();
  assert.equal(await page.getByTestId("user-id").textContent(), userId);
  assert.equal((await h.requests()).length, sent, "a reload with a valid session sends nothing");
  await page.getByTestId("sign-out").click();
  await status.filter({ hasText: "signed-out" }).waitFor();
  await context.close();
});
