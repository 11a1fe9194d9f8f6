// The extension's core check in Debian's Firefox ESR, driven over WebDriver BiDi by
// puppeteer-core (no downloaded browser): the Firefox build, installed as a temporary add-on,
// blurs what the filter flags on the demo feed before it is ever painted and shows the rest.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import { FIREFOX, FIREFOX_EXTENSION, launchFirefox, playwrightShaped, serveWww } from "./harness.mjs";
import { checkFeed, expectedFeed, paintMonitor, readFeed, scrollToEnd } from "./feed.mjs";

const context = {};

before(async () => {
  assert.ok(existsSync(FIREFOX), `${FIREFOX} is missing: run \`cargo xtask setup\``);
  context.server = await serveWww();
  context.cdn = await serveWww();
  context.browser = await launchFirefox();
  context.extensionId = await context.browser.installExtension(FIREFOX_EXTENSION);
});

after(async () => {
  await context.browser?.close();
  context.server?.close();
  context.cdn?.close();
});

test("Firefox: every image the filter flags is blurred before it is ever painted, and every other image is shown", async () => {
  assert.equal(context.extensionId, "veil@veil-filter.org", "installed under its gecko id");
  const page = await context.browser.newPage();
  await page.evaluateOnNewDocument(paintMonitor);
  await page.goto(`${context.server.url}/feed/feed.html?cdn=${context.cdn.url}/feed/`);
  const tab = playwrightShaped(page);
  await scrollToEnd(tab);
  const feed = await readFeed(tab);
  assert.ok(feed.posts.filter((p) => p.kind !== "text").length >= 100, "the feed shows at least 100 images");
  checkFeed(feed, expectedFeed(), "Firefox feed.html");
  const keywordPosts = await page.evaluate(() => [...document.querySelectorAll("article[data-veil-post=hidden]")].map((a) => a.textContent));
  assert.ok(keywordPosts.length > 0 && keywordPosts.every((text) => /game of thrones/i.test(text)), keywordPosts.join(" | "));
  await page.close();
});
