// The console in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by Puppeteer):
// the parts that lean on the browser most. Keyboard sign-in with a one-time password and a
// new password; a source created; its live debugger reading the event stream through
// fetch; a profile whose trait holds markup shown as text with nothing run; a segment's
// size previewed from the visual form; the profile at a phone's width. Screenshots go to
// CDP_SCREENSHOTS with a `firefox-` prefix.
//
// Environment: CDP_URL, CDP_EMAIL, CDP_ONE_TIME_PASSWORD, CDP_NEW_PASSWORD,
// CDP_SCREENSHOTS, CDP_FIREFOX (default /usr/bin/firefox-esr). Exits 0 when every step held.

import puppeteer from "puppeteer-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { eventually, send as sendTo } from "./common.mjs";

const url = process.env.CDP_URL;
const shots = process.env.CDP_SCREENSHOTS;
mkdirSync(shots, { recursive: true });
const HOSTILE = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: process.env.CDP_FIREFOX || "/usr/bin/firefox-esr",
  headless: true,
});
const page = await browser.newPage();
await page.setViewport({ width: 1280, height: 900 });
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
let step = "start";
const shot = (name) => page.screenshot({ path: join(shots, `firefox-${name}.png`), fullPage: true });
const log = (what) => console.log(`firefox test: ${what}`);
const text = (t) => `::-p-text(${JSON.stringify(t)})`;

async function send(writeKey, batch) {
  const sent = await sendTo(url, writeKey, batch);
  if (sent.status !== 200) throw new Error(`tracking answered ${sent.status}`);
}

try {
  step = "sign in with the keyboard";
  await page.goto(`${url}/console`);
  await page.waitForSelector(text("Sign in"));
  await page.keyboard.type(process.env.CDP_EMAIL); // the e-mail field has the focus
  await page.keyboard.press("Tab");
  await page.keyboard.type(process.env.CDP_ONE_TIME_PASSWORD);
  await page.keyboard.press("Enter");
  await page.waitForSelector(text("Choose your password"));
  await page.type("input[name=current]", process.env.CDP_ONE_TIME_PASSWORD);
  await page.type("input[name=new]", process.env.CDP_NEW_PASSWORD);
  await page.keyboard.press("Enter");
  await page.waitForSelector(text("Events received"));
  log("signed in");

  step = "create a source";
  await page.click('nav a[href="#/sources"]');
  await page.waitForSelector("input[name=name]");
  await page.type("input[name=name]", "Shop");
  await page.click(`button${text("Create source")}`);
  const writeKey = await page.$eval(".write-key", (e) => e.getAttribute("data-write-key"));
  if (!writeKey.startsWith("cdp_wk_")) throw new Error(`no write key: ${writeKey}`);

  step = "the live debugger reads the stream";
  await page.click(`a${text("Shop")}`);
  await page.waitForSelector(text("Listening for events"));
  await eventually(20, async () => {
    await send(writeKey, [{ type: "track", userId: "probe", event: "Firefox Probe", messageId: `ff-${Date.now()}` }]);
    await page.waitForSelector(`tr.accepted${text("Firefox Probe")}`, { timeout: 2000 });
  });
  await shot("debugger");
  log("live debugger shows a stored event");

  step = "a profile whose trait holds markup";
  await send(writeKey, [
    { type: "identify", userId: "eve", messageId: "f1", traits: { name: HOSTILE, plan: "pro" } },
    { type: "track", userId: "eve", messageId: "f2", event: "Order Completed", properties: { total: 5 } },
  ]);
  // A new address in the same page only changes the part after `#`: reloading between
  // tries shows the profile again once the projector has it.
  await page.goto(`${url}/console#/profiles/user_id%3Aeve`);
  await eventually(
    30,
    () => page.waitForSelector(`td${text("Order Completed")}`, { timeout: 2000 }),
    () => page.reload(),
  );
  const cells = await page.$$eval("main td", (tds, hostile) => tds.filter((td) => td.textContent === hostile).length, HOSTILE);
  if (cells !== 1) throw new Error(`the markup trait is not shown as its text (${cells} cells)`);
  const ran = await page.evaluate(() => window.__xss);
  const injected = await page.$$eval("main img, main script", (found) => found.length);
  if (ran !== undefined || injected !== 0) throw new Error(`markup in a trait ran: ${ran}, ${injected} elements`);
  await shot("profile");
  await page.setViewport({ width: 390, height: 844 });
  // At a phone's width tables fold into rows whose cells name their column.
  const folded = await page.$eval("main thead", (e) => getComputedStyle(e).display);
  const labelled = await page.$eval("main td[data-label]", (td) => getComputedStyle(td, "::before").content);
  if (folded !== "none" || !labelled.includes(":")) throw new Error(`phone layout: thead ${folded}, label ${labelled}`);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 390) throw new Error(`the page is ${wide} px wide at a phone's 390`);
  await shot("profile-phone");
  await page.setViewport({ width: 1280, height: 900 });
  log("profile shown, markup as text");

  step = "a segment previewed from the visual form";
  await page.click('nav a[href="#/segments"]');
  // The builder appears once the segments and computed traits it offers are read.
  await page.waitForSelector('input[aria-label="Condition 1 name"]');
  await page.type('input[aria-label="Condition 1 name"]', "plan");
  await page.type('input[aria-label="Condition 1 value"]', "pro");
  await eventually(30, async () => {
    const size = await page.$eval(".preview .size", (e) => e.getAttribute("data-size"));
    if (size !== "1") throw new Error(`previewed ${size}`);
  });
  await shot("segment-builder");
  log("segment size previewed");

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("firefox test: every step held");
  await browser.close();
} catch (error) {
  console.error(`firefox test failed at "${step}": ${error.stack || error}`);
  for (const p of problems) console.error(p);
  await shot("failure").catch(() => {});
  await browser.close();
  process.exit(1);
}
