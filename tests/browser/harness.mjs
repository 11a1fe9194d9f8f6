// Shared set-up for the browser tests: a static server for www/ on a free loopback port and
// Debian's Chromium, headless, with WebGPU enabled (SwiftShader where there is no GPU).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import puppeteer from "puppeteer-core";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const WORK = `${ROOT}target/veil/`;
export const CHROMIUM = "/usr/bin/chromium";
export const FIREFOX = "/usr/bin/firefox-esr";

export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Serves `directory` (default www/) until `close()`; resolves once the server answers.
 * `requests()` counts, from the server's log, each path's requests since the last
 * `clearRequests()`: `path` → `{"200": n, "304": m, …}` (query strings kept). */
export async function serveWww(directory = `${ROOT}www`) {
  const port = await freePort();
  const server = spawn(
    "python3",
    ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let counts = new Map();
  let partial = "";
  server.stderr.setEncoding("utf8");
  server.stderr.on("data", (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    for (const line of lines) {
      // 127.0.0.1 - - [date] "GET /feed/images/a.png HTTP/1.1" 200 -
      const match = /"[A-Z]+ (\S+) HTTP\/[\d.]+" (\d{3})/.exec(line);
      if (!match) continue;
      const [, path, status] = match;
      const byStatus = counts.get(path) ?? {};
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      counts.set(path, byStatus);
    }
  });
  const url = `http://127.0.0.1:${port}`;
  const handle = { url, close: () => server.kill(), requests: () => counts, clearRequests: () => (counts = new Map()) };
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if ((await fetch(`${url}/`)).ok) return handle;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  server.kill();
  throw new Error(`python3 -m http.server did not answer on port ${port}`);
}

/** WebGPU on (SwiftShader where there is no GPU), and nothing that talks to the network. */
const CHROMIUM_ARGS = [
  "--enable-unsafe-webgpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // A tab Chromium counts as in the background gets no frames, so no scroll events, and the demo
  // feed's infinite scroll stalls.
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
  "--disable-background-timer-throttling",
];

export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** Chromium with a fresh profile and, if `extension` names an unpacked build, that extension.
 * Resolves to `{context, profile, extensionId, close}`; `close()` stops the browser and deletes
 * the profile (about 70 MB each: left behind, they filled the disk CI shares). */
export async function launchWithExtension(extension) {
  const profile = mkdtempSync(`${tmpdir()}/veil-chromium-`);
  const extensionArgs = extension ? [`--disable-extensions-except=${extension}`, `--load-extension=${extension}`] : [];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...extensionArgs, ...CHROMIUM_ARGS],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  };
  if (!extension) return { context, profile, extensionId: null, close };
  try {
    const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker", { timeout: 30_000 }));
    return { context, profile, extensionId: new URL(worker.url()).host, close };
  } catch (error) {
    await close();
    throw new Error(`the extension in ${extension} did not start (is it built? \`cargo xtask extension\`): ${error.message}`);
  }
}

/** The Chrome build of the extension that `cargo xtask extension` assembles. */
export const CHROME_EXTENSION = `${WORK}extension/chrome`;

/** For a test file: starts the server and the browser before its tests and stops them after.
 * Returns an object whose `server` and `browser` are set once the tests run. */
export function withPlayground() {
  const context = {};
  before(async () => {
    context.server = await serveWww();
    context.browser = await launchChromium();
  });
  after(async () => {
    await context.browser?.close();
    context.server?.close();
  });
  return context;
}

/** Opens the playground and waits until its default filter is loaded. `prepare(page)` runs
 * before the page loads (to change what the browser offers it). */
export async function openPlayground(browser, url, prepare = async () => {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await prepare(page);
  await page.goto(`${url}/index.html`);
  await page.waitForSelector("body[data-state=ready], body[data-state=error]", { timeout: 120_000 });
  const state = await page.getAttribute("body", "data-state");
  if (state !== "ready") throw new Error(`playground failed: ${await page.textContent("#error")}`);
  return { page, errors };
}

/** How far browser and native probabilities may differ (the parity test holds them to it). */
export const PARITY_TOLERANCE = 1e-4;

/** What `veil-train predict --json` said about the parity images (native CPU, pack reloaded). */
export function nativePredictions() {
  return readFileSync(`${WORK}parity-native.jsonl`, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

/** The Firefox build of the extension that `cargo xtask extension` assembles. */
export const FIREFOX_EXTENSION = `${WORK}extension/firefox`;

/** Debian's Firefox ESR, headless, over WebDriver BiDi (puppeteer-core), on a fresh profile. */
export function launchFirefox() {
  return puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    // WebGPU is behind these prefs in Firefox ESR; without a GPU the extension falls back to
    // (or, on a software adapter, prefers) the CPU backend either way.
    extraPrefsFirefox: { "dom.webgpu.enabled": true, "gfx.webgpu.ignore-blocklist": true },
  });
}

/** The page calls the tests make, in playwright's argument order, over a puppeteer page. */
export function playwrightShaped(page) {
  return {
    goto: (url) => page.goto(url),
    close: () => page.close(),
    addInitScript: (fn) => page.evaluateOnNewDocument(fn),
    bringToFront: () => page.bringToFront(),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    waitForTimeout: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    waitForFunction: (fn, arg, { timeout, polling }) => page.waitForFunction(fn, { timeout, polling }, arg),
  };
}
