// The console in a real headless Chromium, as a new workspace owner uses it: first sign-in
// with a one-time password, a source created and events sent with its key, the profile
// found (a trait holding markup shown as text), a segment built with its size previewed,
// and an erasure carried out. Screenshots of each step go to CDP_SCREENSHOTS.
//
// Environment: CDP_URL, CDP_EMAIL, CDP_MEMBER_EMAIL, CDP_ONE_TIME_PASSWORD, CDP_NEW_PASSWORD, CDP_SCREENSHOTS,
// and CDP_CHROMIUM (default /usr/bin/chromium). Exits 0 when every step held.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const url = process.env.CDP_URL;
const email = process.env.CDP_EMAIL;
const memberEmail = process.env.CDP_MEMBER_EMAIL;
const shots = process.env.CDP_SCREENSHOTS;
mkdirSync(shots, { recursive: true });

// Markup in a trait value: shown as text, never run.
const HOSTILE = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;

const browser = await chromium.launch({
  executablePath: process.env.CDP_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
page.on("console", (message) => {
  if (message.type() === "error" && !/status of 4\d\d/.test(message.text())) {
    problems.push(`console: ${message.text()}`);
  }
});

let step = "start";
const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const log = (what) => console.log(`console test: ${what}`);

/** Repeats `check` until it holds or `seconds` pass, reloading the view between tries. */
async function eventually(seconds, check, reload) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > until) throw error;
      if (reload) await reload();
      await page.waitForTimeout(500);
    }
  }
}

async function send(writeKey, batch) {
  const response = await fetch(`${url}/v1/batch`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${writeKey}:`).toString("base64")}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ batch }),
  });
  if (response.status !== 200) throw new Error(`tracking answered ${response.status}: ${await response.text()}`);
}

try {
  step = "sign in with the keyboard";
  await page.goto(`${url}/console`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.keyboard.type(email); // the e-mail field has the focus
  await page.keyboard.press("Tab");
  await page.keyboard.type(process.env.CDP_ONE_TIME_PASSWORD);
  await page.keyboard.press("Enter");

  step = "choose a password";
  await page.getByRole("heading", { name: "Choose your password" }).waitFor();
  await page.getByLabel("The password you were given").fill(process.env.CDP_ONE_TIME_PASSWORD);
  await page.getByLabel("New password").fill(process.env.CDP_NEW_PASSWORD);
  await page.getByRole("button", { name: "Save and go on" }).click();
  await page.getByRole("link", { name: "Sources" }).waitFor();
  log("signed in");

  step = "create a source";
  await page.getByRole("link", { name: "Sources" }).click();
  await page.getByLabel("Name").fill("Website");
  await page.getByRole("button", { name: "Create source" }).click();
  const writeKey = await page.locator(".write-key").getAttribute("data-write-key");
  if (!writeKey || !writeKey.startsWith("cdp_wk_")) throw new Error(`no write key shown: ${writeKey}`);
  await page.getByRole("cell", { name: "Website" }).waitFor();
  await shot("sources");
  log("source created");

  step = "add a member";
  await page.getByRole("link", { name: "Members" }).click();
  await page.getByRole("textbox", { name: "E-mail of the new member" }).fill(memberEmail);
  await page.getByRole("combobox", { name: "Role of the new member" }).selectOption("marketer");
  await page.getByRole("button", { name: "Add member" }).click();
  const oneTime = await page.locator(".one-time-password").textContent();
  if (!oneTime || oneTime.length < 16) throw new Error(`no one-time password shown: ${oneTime}`);
  await page.getByRole("combobox", { name: `Role of ${memberEmail}` }).waitFor();

  step = "read the audit log";
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.locator('.chain[data-valid="true"]').waitFor();
  await page.getByRole("cell", { name: "member.add" }).first().waitFor();
  await shot("audit");
  log("member added, audit chain verified");

  step = "send events with its key";
  await send(writeKey, [
    { type: "identify", userId: "ada", messageId: "c1", traits: { name: HOSTILE, plan: "pro", email: "ada@example.com" } },
    { type: "track", userId: "ada", messageId: "c2", event: "Order Completed", properties: { total: 42 } },
    { type: "track", userId: "ada", messageId: "c3", event: "Order Completed", properties: { total: 7 } },
    { type: "identify", userId: "bob", messageId: "c4", traits: { plan: "free" } },
    { type: "track", userId: "bob", messageId: "c5", event: "Order Completed", properties: { total: 3 } },
  ]);

  step = "find the profile";
  await page.getByRole("link", { name: "Profiles" }).click();
  await page.getByRole("combobox", { name: "Search by" }).selectOption("user_id");
  await page.getByRole("searchbox", { name: "Value" }).fill("ada");
  await page.getByRole("button", { name: "Find" }).click();
  await eventually(
    30,
    () => page.getByRole("cell", { name: "Order Completed" }).first().waitFor({ timeout: 1000 }),
    () => page.reload(),
  );
  await page.getByRole("cell", { name: "ada@example.com" }).first().waitFor();
  const shown = await page.getByRole("cell", { name: HOSTILE, exact: true }).count();
  if (shown !== 1) throw new Error(`the markup trait is not shown as its text (${shown} cells)`);
  const ran = await page.evaluate(() => window.__xss);
  const injected = await page.locator("main img, main script").count();
  if (ran !== undefined || injected !== 0) throw new Error(`markup in a trait ran: ${ran}, ${injected} elements`);
  await shot("profile-hostile-trait");
  log("profile shown, markup as text");

  step = "build a segment";
  await page.getByRole("link", { name: "Segments" }).click();
  const condition = page.getByLabel("Condition");
  await condition.fill('trait plan = "pro" and performd "Order Completed"');
  await page.getByText(/Line 1, column \d+/).waitFor();
  await condition.fill('trait plan = "pro" and performed "Order Completed" >= 2 times');
  await eventually(30, async () => {
    const size = await page.locator(".preview .size").getAttribute("data-size", { timeout: 1000 });
    if (size !== "1") {
      await condition.press("End");
      await condition.type(" ");
      throw new Error(`previewed size ${size}`);
    }
  });
  await page.getByLabel("Name").fill("Pro buyers");
  await shot("segment-builder");
  await page.getByRole("button", { name: "Save segment" }).click();
  await page.getByText('Saved "Pro buyers".').waitFor();
  await eventually(
    30,
    async () => {
      const row = page.getByRole("row", { name: /Pro buyers/ });
      const size = await row.locator(".size").textContent({ timeout: 1000 });
      if (size !== "1") throw new Error(`listed size ${size}`);
    },
    async () => {
      await page.reload();
      await page.getByRole("heading", { name: "All segments" }).waitFor();
    },
  );
  log("segment built, size 1");

  step = "see the segment on the profile";
  await page.goto(`${url}/console#/profiles/user_id%3Aada`);
  await eventually(
    30,
    () => page.getByRole("listitem").filter({ hasText: "Pro buyers" }).waitFor({ timeout: 1000 }),
    () => page.reload(),
  );
  await shot("profile");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot("profile-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  step = "carry out an erasure";
  await page.getByRole("link", { name: "Privacy requests" }).click();
  await page.getByRole("combobox", { name: "Request type" }).selectOption("erasure");
  await page.getByRole("combobox", { name: "Identity type" }).selectOption("user_id");
  await page.getByRole("textbox", { name: "Identity value" }).fill("ada");
  await page.getByRole("button", { name: "Record request" }).click();
  await eventually(60, async () => {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.locator('[data-status="completed"]').waitFor({ timeout: 1000 });
  });
  await shot("erasure");
  await page.goto(`${url}/console#/profiles/user_id%3Aada`);
  await page.getByText("No profile holds user_id:ada.").waitFor();
  log("erasure completed, the profile is gone");

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("console test: every step held");
  await browser.close();
} catch (error) {
  console.error(`console test failed at "${step}": ${error.stack || error}`);
  for (const p of problems) console.error(p);
  await shot("failure").catch(() => {});
  await browser.close();
  process.exit(1);
}
