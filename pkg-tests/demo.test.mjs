// The demo page: sign up with a password, see the user, save a screenshot.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { RESULTS, startHarness } from "./harness.mjs";

let h;
before(async () => {
  h = await startHarness();
});
after(() => h?.close());

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
