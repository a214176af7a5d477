// The console in a real headless Chromium, as its users work in it: a new workspace owner
// (first sign-in with a one-time password; a source, its live debugger showing events and
// a refused request; a webhook source with a shipped mapping; an API key; a marketer
// added, their role changed and saved, someone removed after confirming; the audit
// chain), then the data work (a destination with a test delivery, dead letters and their
// replay; the profile with a trait holding markup shown as text, found again by a numeric
// trait; a segment built in the visual form, its members exported; a computed trait; the
// overview's charts; an access export and an erasure
// with its receipt verified), the marketer's narrower console, and a platform admin
// creating, suspending and limiting a workspace. Screenshots of each step go to
// CDP_SCREENSHOTS.
//
// Environment: CDP_URL, CDP_EMAIL, CDP_MEMBER_EMAIL, CDP_ONE_TIME_PASSWORD,
// CDP_NEW_PASSWORD, CDP_ADMIN_EMAIL, CDP_ADMIN_ONE_TIME_PASSWORD, CDP_SCREENSHOTS, and
// CDP_CHROMIUM (default /usr/bin/chromium). Exits 0 when every step held.

import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { eventually, send as sendTo } from "./common.mjs";

const url = process.env.CDP_URL;
const email = process.env.CDP_EMAIL;
const memberEmail = process.env.CDP_MEMBER_EMAIL;
const newPassword = process.env.CDP_NEW_PASSWORD;
const shots = process.env.CDP_SCREENSHOTS;
mkdirSync(shots, { recursive: true });

// Markup in a trait value: shown as text, never run.
const HOSTILE = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;

// A webhook receiver: every request kept; a path in `failing` answers 500.
const received = [];
const failing = new Set();
const receiver = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    received.push({ path: request.url, headers: request.headers, body });
    response.writeHead(failing.has(request.url) ? 500 : 200).end();
  });
});
await new Promise((done) => receiver.listen(0, "127.0.0.1", done));
const hooks = `http://127.0.0.1:${receiver.address().port}`;

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
const problems = [];

/** Confirmations are accepted, unless a step says otherwise. */
const acceptDialog = (dialog) => dialog.accept();

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of 4\d\d/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on("dialog", acceptDialog);
  return page;
}

let page = await newPage();
let step = "start";
const shot = (name, on = page) => on.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const log = (what) => console.log(`console test: ${what}`);

const send = (writeKey, batch) => sendTo(url, writeKey, batch);

/** Saves what clicking `button` downloads, and answers its text. */
async function downloaded(button) {
  const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
  return readFileSync(await download.path(), "utf8");
}

/** First sign-in with a one-time password, then the person's own password. */
async function firstSignIn(on, who, oneTime, { platform = false } = {}) {
  await on.goto(`${url}/console`);
  await on.getByRole("heading", { name: "Sign in" }).waitFor();
  await on.keyboard.type(who); // the e-mail field has the focus
  await on.keyboard.press("Tab");
  await on.keyboard.type(oneTime);
  if (platform) await on.getByLabel("Administer the platform").check();
  await on.keyboard.press("Enter");
  await on.getByRole("heading", { name: "Choose your password" }).waitFor();
  await on.getByLabel("The password you were given").fill(oneTime);
  await on.getByLabel("New password").fill(newPassword);
  await on.getByRole("button", { name: "Save and go on" }).click();
}

try {
  step = "sign in with the keyboard";
  await firstSignIn(page, email, process.env.CDP_ONE_TIME_PASSWORD);
  await page.getByRole("link", { name: "Sources" }).waitFor();
  await page.getByRole("heading", { name: "Events received" }).waitFor();
  log("signed in, the overview shown");

  step = "create a source";
  await page.getByRole("link", { name: "Sources" }).click();
  await page.getByLabel("Name").fill("Website");
  await page.getByRole("button", { name: "Create source" }).click();
  const writeKey = await page.locator(".write-key").getAttribute("data-write-key");
  if (!writeKey || !writeKey.startsWith("cdp_wk_")) throw new Error(`no write key shown: ${writeKey}`);
  await page.getByRole("link", { name: "Website" }).waitFor();
  await shot("sources");

  step = "create a webhook source with a shipped mapping";
  await page.getByLabel("Name").fill("Shop orders");
  await page.getByLabel("Kind").selectOption("webhook");
  await page.getByRole("combobox", { name: /^Mapping/ }).selectOption("ecommerce_order");
  await page.getByRole("button", { name: "Create source" }).click();
  const hookAddress = await page.locator("code").filter({ hasText: "/v1/webhooks/" }).textContent();
  // The curl shown works as it is: its sample is what the mapping reads.
  const snippet = await page.locator("pre").filter({ hasText: hookAddress }).textContent();
  const order = await fetch(hookAddress, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: snippet.match(/-d '(.*)'$/s)[1],
  });
  if (order.status !== 200) throw new Error(`the webhook address answered ${order.status}: ${await order.text()}`);
  await page.getByRole("link", { name: "Shop orders" }).waitFor();
  log("webhook source created with the e-commerce mapping; an order posted to its address stored");

  step = "watch the source's live events";
  await page.getByRole("link", { name: "Website" }).click();
  await page.getByText("Listening for events").waitFor();
  await page.getByRole("cell", { name: /^cdp_wk_/ }).first().waitFor();
  // The stream starts at the log's head: sent now, shown now.
  await eventually(20, async () => {
    const sent = await send(writeKey, [{ type: "track", userId: "probe", event: "Debugger Probe", messageId: `probe-${Date.now()}` }]);
    if (sent.status !== 200) throw new Error(`probe answered ${sent.status}`);
    await page.locator("tr.accepted").filter({ hasText: "Debugger Probe" }).first().waitFor({ timeout: 2000 });
  });
  const refused = await send(writeKey, [{ type: "track", userId: "probe" }]);
  if (refused.status !== 400) throw new Error(`a track without a name answered ${refused.status}`);
  await page.locator("tr.rejected").filter({ hasText: refused.body.message }).waitFor({ timeout: 10000 });
  await page.locator("tr.accepted").first().getByRole("button", { name: "show" }).click();
  await page.getByText('"event": "Debugger Probe"').waitFor();
  await shot("debugger");
  log("live debugger: an event stored and a refused request shown with its reason");

  step = "create an API key and revoke it";
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Name").fill("Reporting");
  await page.getByRole("button", { name: "Create API key" }).click();
  const apiKey = await page.locator(".api-key").getAttribute("data-api-key");
  if (!apiKey || !apiKey.startsWith("cdp_sk_")) throw new Error(`no API key shown: ${apiKey}`);
  const row = page.getByRole("row", { name: /Reporting/ });
  await row.getByText("in use").waitFor();
  await page.getByRole("button", { name: "Revoke Reporting" }).click();
  await row.getByText(/revoked/).waitFor();
  const afterRevoke = await fetch(`${url}/v1/tenant`, { headers: { authorization: `Bearer ${apiKey}` } });
  if (afterRevoke.status !== 401) throw new Error(`a revoked key answered ${afterRevoke.status}`);
  log("API key shown once, then revoked and refused");

  step = "add a member";
  await page.getByRole("link", { name: "Members" }).click();
  await page.getByRole("textbox", { name: "E-mail of the new member" }).fill(memberEmail);
  await page.getByRole("combobox", { name: "Role of the new member" }).selectOption("marketer");
  await page.getByRole("button", { name: "Add member" }).click();
  const memberOneTime = await page.locator(".one-time-password").textContent();
  if (!memberOneTime || memberOneTime.length < 16) throw new Error(`no one-time password shown: ${memberOneTime}`);
  await page.getByRole("combobox", { name: `Role of ${memberEmail}` }).waitFor();
  // A role changes when saved, not on every choice passed.
  await page.getByRole("combobox", { name: `Role of ${memberEmail}` }).selectOption("analyst");
  await page.getByRole("button", { name: `Save the role of ${memberEmail}` }).click();
  await page.getByText(`${memberEmail} is now analyst.`).waitFor();
  await page.getByRole("combobox", { name: `Role of ${memberEmail}` }).selectOption("marketer");
  await page.getByRole("button", { name: `Save the role of ${memberEmail}` }).click();
  await page.getByText(`${memberEmail} is now marketer.`).waitFor();
  // Removing asks first.
  const passing = `passing-${Date.now()}@example.com`;
  await page.getByRole("textbox", { name: "E-mail of the new member" }).fill(passing);
  await page.getByRole("button", { name: "Add member" }).click();
  await page.getByRole("button", { name: `Remove ${passing}` }).waitFor();
  page.off("dialog", acceptDialog);
  page.once("dialog", (dialog) => dialog.dismiss());
  await page.getByRole("button", { name: `Remove ${passing}` }).click();
  await page.getByRole("button", { name: `Remove ${passing}` }).waitFor();
  page.on("dialog", acceptDialog);
  await page.getByRole("button", { name: `Remove ${passing}` }).click();
  await page.getByText(`${passing} was removed.`).waitFor();
  await page.getByRole("button", { name: `Remove ${passing}` }).waitFor({ state: "detached" });

  step = "read the audit log";
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.locator('.chain[data-valid="true"]').waitFor();
  await page.getByRole("cell", { name: "member.add" }).first().waitFor();
  await shot("audit");
  log("member added, audit chain verified");

  step = "set up a destination and test it";
  failing.add("/warehouse");
  await page.getByRole("link", { name: "Destinations" }).click();
  await page.getByLabel("Name").fill("Warehouse");
  await page.getByLabel("Webhook address").fill(`${hooks}/warehouse`);
  await page.getByLabel("Only these events").fill("Order Completed");
  await page.getByRole("button", { name: "Create destination" }).click();
  const secret = await page.locator(".signing-secret").textContent();
  if (!secret || !secret.startsWith("whsec_")) throw new Error(`no signing secret shown: ${secret}`);
  await page.getByRole("link", { name: "Warehouse" }).click();
  await page.getByRole("button", { name: "Send a test delivery" }).click();
  await page.locator('.test-result[data-delivered="false"]').getByText("the receiver answered 500").waitFor();
  failing.delete("/warehouse");
  await page.getByRole("button", { name: "Send a test delivery" }).click();
  await page.locator('.test-result[data-delivered="true"]').waitFor();
  const test = received.filter((r) => r.path === "/warehouse").map((r) => JSON.parse(r.body));
  if (test.length !== 2 || test.some((b) => b.type !== "test")) throw new Error(`the receiver got ${JSON.stringify(test)}`);
  failing.add("/warehouse");
  log("destination created, test deliveries told 500 then 200");

  step = "send events with the source's key";
  const sent = await send(writeKey, [
    {
      type: "identify", userId: "ada", messageId: "c1",
      traits: { name: HOSTILE, plan: "pro", email: "ada@example.com", age: 36 },
      context: { consent: { categoryPreferences: { Marketing: true } } },
    },
    { type: "track", userId: "ada", messageId: "c2", event: "Order Completed", properties: { total: 42 } },
    { type: "track", userId: "ada", messageId: "c3", event: "Order Completed", properties: { total: 7 } },
    { type: "identify", userId: "bob", messageId: "c4", traits: { plan: "free" } },
    { type: "track", userId: "bob", messageId: "c5", event: "Order Completed", properties: { total: 3 } },
  ]);
  if (sent.status !== 200) throw new Error(`tracking answered ${sent.status}: ${JSON.stringify(sent.body)}`);

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

  step = "find the profile by a trait";
  await page.getByRole("link", { name: "Profiles" }).click();
  await page.getByRole("combobox", { name: "Search by" }).selectOption("trait");
  await page.getByRole("textbox", { name: "Trait name" }).fill("age");
  await page.getByRole("combobox", { name: "How the trait matches" }).selectOption("equals");
  // A number is searched as one: 36 matches the number 36, "36" would match text.
  await page.getByRole("searchbox", { name: "Value" }).fill("36");
  await page.getByRole("button", { name: "Find" }).click();
  await page.getByRole("heading", { name: "Matching profiles" }).waitFor();
  const matches = await page.locator("tbody tr").count();
  if (matches !== 1 || (await page.getByRole("cell", { name: /user_id:ada/ }).count()) !== 1) throw new Error(`age = 36 found ${matches} profiles`);
  await page.getByRole("searchbox", { name: "Value" }).fill('"36"');
  await page.getByRole("button", { name: "Find" }).click();
  await page.getByText("No profile matches.").waitFor();
  log("profile found by a numeric trait");

  step = "dead letters replayed";
  await page.getByRole("link", { name: "Destinations" }).click();
  await page.getByRole("link", { name: "Warehouse" }).click();
  // Ada's two orders (Bob gave no consent to marketing): dead after the short retry window.
  await eventually(
    60,
    async () => {
      const dead = await page.locator('[data-count="dead"]').textContent({ timeout: 1000 });
      if (dead !== "2") throw new Error(`${dead} dead letters`);
    },
    () => page.reload(),
  );
  await page.getByRole("combobox", { name: "Show deliveries" }).selectOption("dead");
  await page.locator("td .status.dead").first().waitFor();
  await shot("destination-dead-letters");
  failing.delete("/warehouse");
  await page.getByRole("button", { name: "Replay every dead letter" }).click();
  await page.getByText("2 sent again.").waitFor();
  await eventually(
    30,
    async () => {
      const delivered = await page.locator('[data-count="delivered"]').textContent({ timeout: 1000 });
      if (delivered !== "2") throw new Error(`${delivered} delivered`);
    },
    () => page.reload(),
  );
  await shot("destination");
  log("dead letters listed, replayed and delivered");

  step = "build a segment in the visual form";
  await page.getByRole("link", { name: "Segments", exact: true }).click();
  // The text form opens at once on a new builder, with nothing to convert yet.
  await page.getByRole("button", { name: "Text", exact: true }).click();
  await page.getByRole("textbox", { name: "Condition", exact: true }).waitFor();
  await page.getByRole("button", { name: "Visual" }).click();
  await page.getByLabel("Condition 1 name").fill("plan");
  await page.getByLabel("Condition 1 value").fill("pro");
  await page.getByRole("button", { name: "Add condition" }).click();
  await page.getByLabel("Condition 2 kind").selectOption("performed");
  await page.getByLabel("Condition 2 event").fill("Order Completed");
  await page.getByLabel("Condition 2 times").fill("2");
  await eventually(30, async () => {
    const size = await page.locator(".preview .size").getAttribute("data-size", { timeout: 1000 });
    if (size !== "1") {
      await page.getByLabel("Condition 2 times").fill("2");
      throw new Error(`previewed size ${size}`);
    }
  });
  const asText = await page.locator(".preview .as-text").textContent();
  if (!/trait plan = "pro" and performed "Order Completed" >= 2 times/.test(asText)) throw new Error(`as text: ${asText}`);
  await page.getByLabel("Name", { exact: true }).fill("Pro buyers");
  await shot("segment-builder");

  step = "the same condition as text, a mistake shown where it is";
  await page.getByRole("button", { name: "Text", exact: true }).click();
  const textForm = page.getByRole("textbox", { name: "Condition", exact: true });
  if ((await textForm.inputValue()) !== asText) throw new Error(`the text form holds ${await textForm.inputValue()}`);
  await textForm.fill('trait plan = "pro" and performd "Order Completed"');
  await page.getByText(/Line 1, column \d+/).waitFor();
  await shot("segment-text-mistake");
  await textForm.fill(asText);
  await page.getByRole("button", { name: "Visual" }).click();
  if ((await page.getByLabel("Condition 2 event").inputValue()) !== "Order Completed") throw new Error("the visual form did not read the text back");
  await page.getByRole("button", { name: "Save segment" }).click();
  await page.getByText('Saved "Pro buyers".').waitFor();
  log("segment built in the visual form, previewed 1, read back from text");

  step = "the segment's members and their export";
  await page.getByRole("link", { name: "Pro buyers" }).click();
  await eventually(
    30,
    () => page.locator("section[aria-label=Members] td a").first().waitFor({ timeout: 1000 }),
    () => page.reload(),
  );
  const csv = await downloaded(page.getByRole("button", { name: "Export members (CSV)" }));
  const lines = csv.trim().split("\n");
  if (lines[0] !== "profile_id,since,user_id,email" || lines.length !== 2 || !lines[1].includes("ada@example.com")) {
    throw new Error(`the export holds ${csv}`);
  }
  await page.locator("figure").filter({ hasText: "Members, hour by hour" }).waitFor();
  await shot("segment");
  log("segment members listed and exported as CSV");

  step = "see the segment on the profile";
  await page.goto(`${url}/console#/profiles/user_id%3Aada`);
  await eventually(
    30,
    () => page.getByRole("listitem").filter({ hasText: "Pro buyers" }).waitFor({ timeout: 1000 }),
    () => page.reload(),
  );
  await shot("profile");
  await page.setViewportSize({ width: 390, height: 844 });
  // At a phone's width tables fold into rows whose cells name their column, and nothing
  // is wider than the screen.
  if (await page.locator("main thead").first().isVisible()) throw new Error("table headers shown at a phone's width");
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 390) throw new Error(`the page is ${wide} px wide at a phone's 390`);
  await shot("profile-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  step = "define a computed trait";
  await page.getByRole("link", { name: "Computed traits" }).click();
  // A preset defines the kind, event and property itself: those fields go away.
  await page.getByLabel("Preset").selectOption("total_revenue");
  await page.getByLabel("Kind").waitFor({ state: "hidden" });
  await page.getByLabel("Preset").selectOption("");
  await page.getByLabel("Kind").waitFor();
  await page.getByLabel("Name").fill("order_total");
  await page.getByLabel("Kind").selectOption("sum");
  await page.getByLabel("Event").fill("Order Completed");
  await page.getByLabel("Property").fill("total");
  await page.getByRole("button", { name: "Save computed trait" }).click();
  await page.getByText("Saved order_total").waitFor();
  await page.getByRole("cell", { name: "order_total", exact: true }).waitFor();
  await page.goto(`${url}/console#/profiles/user_id%3Aada`);
  await eventually(
    30,
    async () => {
      const row = page.getByRole("row", { name: /order_total/ });
      const value = await row.locator("td").nth(1).textContent({ timeout: 1000 });
      if (value !== "49") throw new Error(`order_total ${value}`);
    },
    () => page.reload(),
  );
  await shot("profile-with-computed-trait");
  log("computed trait defined and shown on the profile (49)");

  step = "the overview's charts";
  await page.getByRole("link", { name: "Overview" }).click();
  await eventually(10, async () => {
    const total = Number(await page.locator(".volume-total").getAttribute("data-total", { timeout: 1000 }));
    if (total < 6) throw new Error(`${total} events counted`);
  }, () => page.reload());
  await page.locator("figure svg.chart").first().waitFor();
  await page.locator('figure:has-text("Delivered, in %")').waitFor();
  await shot("overview");
  log("overview: event volume, projector and deliveries charted");

  step = "an access export";
  await page.getByRole("link", { name: "Privacy requests" }).click();
  // The consent overview: Ada granted marketing; Bob decided nothing.
  const consentRow = page.getByRole("row", { name: /^marketing/ });
  await consentRow.waitFor();
  const consentCells = await consentRow.locator("td").allTextContents();
  if (consentCells.join("|") !== "marketing|1|0|0") throw new Error(`consent overview: ${consentCells}`);
  await page.getByRole("combobox", { name: "Request type" }).selectOption("access");
  await page.getByRole("combobox", { name: "Identity type" }).selectOption("user_id");
  await page.getByRole("textbox", { name: "Identity value" }).fill("ada");
  await page.getByRole("button", { name: "Record request" }).click();
  // The first download is possible once the projections have read as far as the request.
  const exported = await eventually(60, async () => {
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: 2000 }),
      page.getByRole("button", { name: "Download the access export" }).click(),
    ]);
    return JSON.parse(readFileSync(await download.path(), "utf8"));
  });
  if (exported.complete !== true || exported.event_count < 3) throw new Error(`the export: ${JSON.stringify(exported).slice(0, 300)}`);
  // The queue filtered to overdue requests: none, all of them received minutes ago.
  await page.getByRole("checkbox", { name: "Only overdue requests" }).check();
  await page.getByText("No request is overdue.").waitFor();
  // The queue is drawn anew; the keyboard stays on the (new) checkbox.
  await page.waitForFunction(() => document.activeElement && document.activeElement.type === "checkbox", null, { timeout: 5000 });
  await page.getByRole("checkbox", { name: "Only overdue requests" }).uncheck();
  await page.locator("section[aria-label=Requests] tbody tr").first().waitFor();
  await eventually(30, async () => {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.locator('[data-status="completed"]').waitFor({ timeout: 1000 });
  });

  step = "carry out an erasure and verify its receipt";
  await page.getByRole("combobox", { name: "Request type" }).selectOption("erasure");
  await page.getByRole("textbox", { name: "Identity value" }).fill("ada");
  await page.getByRole("button", { name: "Record request" }).click();
  await eventually(60, async () => {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.locator('[data-status="completed"]').filter({ hasText: "erasure request" }).waitFor({ timeout: 1000 });
  });
  await page.getByRole("button", { name: "Verify the receipt" }).click();
  await page.locator('[data-verified="true"]').waitFor();
  const receipt = JSON.parse(await downloaded(page.getByRole("button", { name: "Download the receipt" })));
  if (receipt.verified !== true) throw new Error(`the receipt file: ${JSON.stringify(receipt).slice(0, 300)}`);
  await shot("erasure");
  await page.goto(`${url}/console#/profiles/user_id%3Aada`);
  await page.getByText("No profile holds user_id:ada.").waitFor();
  log("access export downloaded; erasure completed, receipt verified, the profile gone");

  step = "a marketer's console";
  const marketer = await newPage();
  await firstSignIn(marketer, memberEmail, memberOneTime);
  await marketer.getByRole("link", { name: "Segments", exact: true }).waitFor();
  for (const hidden of ["Members", "API keys", "Audit log", "Privacy requests"]) {
    if (await marketer.getByRole("link", { name: hidden }).count()) throw new Error(`a marketer sees ${hidden}`);
  }
  await marketer.goto(`${url}/console#/keys`);
  await marketer.getByRole("link", { name: "Segments", exact: true }).waitFor();
  if (await marketer.getByRole("heading", { name: "API keys" }).count()) throw new Error("a marketer opened the API keys");
  await shot("marketer", marketer);
  await marketer.context().close();
  log("a marketer sees only the sections of the role");

  step = "a platform admin manages workspaces";
  const admin = await newPage();
  page = admin;
  await firstSignIn(admin, process.env.CDP_ADMIN_EMAIL, process.env.CDP_ADMIN_ONE_TIME_PASSWORD, { platform: true });
  await admin.getByRole("heading", { name: "Workspaces", exact: true }).waitFor();
  await admin.getByRole("link", { name: "console" }).waitFor();
  await admin.getByLabel("Name of the new workspace").fill("Acme");
  await admin.getByLabel("Owner's e-mail").fill(`owner.${Date.now()}@acme.test`);
  await admin.getByRole("button", { name: "Create workspace" }).click();
  await admin.locator(".one-time-password").waitFor();
  await admin.getByRole("link", { name: "Acme" }).click();
  await admin.getByRole("button", { name: "Suspend" }).click();
  await admin.locator('[data-status="suspended"]').waitFor();
  await admin.getByLabel("Events per second").fill("50");
  await admin.getByLabel("Burst").fill("100");
  await admin.getByRole("button", { name: "Save quotas" }).click();
  await admin.getByText("Quotas saved.").waitFor();
  await shot("workspace", admin);
  await admin.getByRole("button", { name: "Resume", exact: true }).click();
  await admin.locator('[data-status="active"]').waitFor();
  log("platform admin created, suspended, limited and resumed a workspace");

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("console test: every step held");
  await browser.close();
  receiver.close();
} catch (error) {
  console.error(`console test failed at "${step}": ${error.stack || error}`);
  for (const p of problems) console.error(p);
  await shot("failure").catch(() => {});
  await browser.close();
  process.exit(1);
}
