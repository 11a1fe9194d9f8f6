// A measurement, not a test (`cargo xtask bench`): what the extension costs a page. Loads the
// demo feed in headless Chromium (and, with the argument `firefox`, Firefox ESR) with and
// without the extension, scrolls through all of it, and prints the time until every image is
// settled (judged, or loaded without the extension), the main thread's total blocking time
// (long tasks beyond 50 ms; Chromium only), the browser's memory, the images the feed's servers
// sent, and Veil's start-up: from starting the browser to the first verdict, and on a warm
// browser how long after loading the first images are judged.
import { execFileSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { imagesSent } from "./feed.mjs";
import {
  CHROME_EXTENSION, FIREFOX_EXTENSION, ROOT, WORK, launchFirefox, launchWithExtension, playwrightShaped, serveWww,
} from "./harness.mjs";

// `VEIL_BENCH_RUNS=1` for a quick look.
const RUNS = Number(process.env.VEIL_BENCH_RUNS ?? 3);

/** Runs in the page before its scripts: when each image (by URL) was first judged. */
function settleMonitor() {
  const settledAt = {};
  globalThis.__veilSettledAt = settledAt;
  new MutationObserver((records) => {
    for (const { target } of records) {
      if (!["shown", "flagged"].includes(target.getAttribute("data-veil-state"))) continue;
      const url = target.currentSrc || target.src || target.poster;
      if (url) settledAt[url] ??= performance.now();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-veil-state"] });
}

/** On a warm browser: how long after each of the first four feed images finished loading it was
 * judged, in ms (the largest, and the first image's). */
async function judgedAfterLoad(browser, url) {
  const page = await browser.newPage();
  try {
    await page.addInitScript(settleMonitor);
    await page.goto(url);
    return (await page.waitForFunction(
      () => {
        const images = [...document.querySelectorAll("article img:not(.avatar)")].slice(0, 4);
        if (images.length < 4) return false;
        const delays = images.map((image) => {
          const judged = globalThis.__veilSettledAt[image.currentSrc || image.src];
          const loaded = performance.getEntriesByName(image.currentSrc || image.src)[0]?.responseEnd;
          return judged === undefined || loaded === undefined ? null : judged - loaded;
        });
        return delays.every((delay) => delay !== null) && { first: delays[0], worst: Math.max(...delays) };
      },
      null,
      { polling: "raf", timeout: 120_000 },
    )).jsonValue();
  } finally {
    await page.close();
  }
}

function blockingMonitor() {
  globalThis.__veilBlocking = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) globalThis.__veilBlocking += Math.max(0, entry.duration - 50);
  }).observe({ type: "longtask", buffered: true });
}

/** Resident memory of process `pid` and all its descendants, in MB. */
function processTreeMemoryMb(pid) {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,rss="], { encoding: "utf8" }).trim().split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number));
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of rows) if (tree.has(parent) && !tree.has(child)) tree.add(child), (grew = true);
  }
  return rows.filter(([p]) => tree.has(p)).reduce((sum, [, , kb]) => sum + kb, 0) / 1024;
}

/** Resident memory of every process of the browser started with `profile`, in MB. */
function browserMemoryMb(profile) {
  const lines = execFileSync("ps", ["-eo", "rss=,args="], { encoding: "utf8" }).split("\n");
  const kb = lines.filter((line) => line.includes(profile)).reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0]), 0);
  return kb / 1024;
}

/** What the feed's two servers sent of its images since they were last cleared: requests
 * answered with the file, the URLs asked for, and how many of them were sent more than once. */
function imageDownloads(servers) {
  const sent = imagesSent(servers);
  const bytes = [...sent].reduce((sum, [url, times]) => sum + times * statSync(`${ROOT}www${new URL(url).pathname}`).size, 0);
  return {
    urls: new Set(sent.keys()),
    imageRequests: [...sent.values()].reduce((a, b) => a + b, 0),
    imageUrls: sent.size,
    urlsSentTwice: [...sent.values()].filter((times) => times > 1).length,
    imageMb: bytes / 1e6,
  };
}

/** A fresh browser, with or without the extension: `newPage()` (playwright's page calls),
 * `memoryMb()`, `close()`. */
async function launch(browserName, withExtension) {
  if (browserName === "Chromium") {
    const { context, profile, close } = await launchWithExtension(withExtension ? CHROME_EXTENSION : null);
    return { newPage: () => context.newPage(), memoryMb: () => browserMemoryMb(profile), close };
  }
  const browser = await launchFirefox();
  if (withExtension) await browser.installExtension(FIREFOX_EXTENSION);
  // Firefox's content processes do not name the profile: count the whole process tree.
  const pid = browser.process().pid;
  return { newPage: async () => playwrightShaped(await browser.newPage()), memoryMb: () => processTreeMemoryMb(pid), close: () => browser.close() };
}

async function measure(browserName, withExtension, server, cdn) {
  server.clearRequests();
  cdn.clearRequests();
  const launched = Date.now();
  const browser = await launch(browserName, withExtension);
  const feedUrl = `${server.url}/feed/feed.html?cdn=${cdn.url}/feed/`;
  try {
    const page = await browser.newPage();
    await page.addInitScript(blockingMonitor);
    await page.addInitScript(settleMonitor);
    await page.goto(feedUrl);
    const settled = withExtension
      ? (e) => ["shown", "flagged", "revealed"].includes(e.getAttribute("data-veil-state"))
      : (e) => (e instanceof HTMLImageElement ? e.complete : true);
    const firstScreen = await page.waitForFunction(
      (source) => {
        const isSettled = eval(source);
        const images = [...document.querySelectorAll("article img:not(.avatar)")].slice(0, 4);
        return images.length === 4 && images.every(isSettled) && performance.now();
      },
      settled.toString(),
      { polling: "raf", timeout: 120_000 },
    );
    const firstScreenMs = await firstScreen.jsonValue();
    // To the very end: the last posts may arrive before the scroll reaches them (the feed also
    // loads on resize), and their lazy images load only once near the viewport.
    const atEnd = () => (
      window.scrollBy(0, innerHeight),
      document.body.dataset.complete === "true" && scrollY + innerHeight >= document.documentElement.scrollHeight - 1
    );
    while (!(await page.evaluate(atEnd))) await page.waitForTimeout(30);
    const all = await page.waitForFunction(
      (source) => {
        const isSettled = eval(source);
        const roots = (root) => [root, ...[...root.querySelectorAll("*")].flatMap((e) => (e.shadowRoot ? roots(e.shadowRoot) : []))];
        const images = roots(document).flatMap((root) => [...root.querySelectorAll("article img:not(.avatar), article video, article .background")]);
        return images.every(isSettled) && performance.now();
      },
      settled.toString(),
      { polling: 50, timeout: 300_000 },
    );
    const allMs = await all.jsonValue();
    const blockingMs = await page.evaluate(() => globalThis.__veilBlocking);
    const downloads = imageDownloads([server, cdn]);
    const memoryMb = browser.memoryMb();
    if (!withExtension) return { firstScreenMs, allMs, blockingMs, memoryMb, ...downloads };
    // From starting the browser to the extension's first verdict on one of the first images
    // (small ones are shown unjudged).
    const firstJudged = await page.evaluate(() => performance.timeOrigin + Math.min(
      ...[...document.querySelectorAll("article img:not(.avatar)")].slice(0, 4).map((image) => globalThis.__veilSettledAt[image.currentSrc || image.src] ?? Infinity),
    ));
    const warm = await judgedAfterLoad(browser, feedUrl);
    return {
      firstScreenMs, allMs, blockingMs, memoryMb, ...downloads,
      launchToFirstVerdictMs: firstJudged - launched, warmFirstImageMs: warm.first, warmWorstOfFourMs: warm.worst,
    };
  } finally {
    await browser.close();
  }
}

const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const server = await serveWww();
const cdn = await serveWww();
// `node feed-bench.mjs firefox` measures Firefox ESR as well.
const browsers = ["Chromium", ...(process.argv.includes("firefox") ? ["Firefox"] : [])];
const report = {};
try {
  for (const browserName of browsers) report[browserName] = await measureBrowser(browserName);
} finally {
  server.close();
  cdn.close();
}
writeFileSync(`${WORK}feed-bench.json`, JSON.stringify(report, null, 1));

async function measureBrowser(browserName) {
  const results = {};
  const urls = {};
  for (const withExtension of [false, true]) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(browserName, withExtension, server, cdn));
    const name = withExtension ? "with Veil" : "without Veil";
    urls[name] = new Set(runs.flatMap((run) => [...run.urls]));
    const numbers = Object.keys(runs[0]).filter((key) => typeof runs[0][key] === "number");
    results[name] = Object.fromEntries(numbers.map((key) => [key, median(runs.map((r) => r[key]))]));
  }
  const onlyWithVeil = [...urls["with Veil"]].filter((url) => !urls["without Veil"].has(url));
  results["with Veil"].urlsOnlyWithVeil = onlyWithVeil.length;
  console.log(`\n${browserName}: demo feed, median of ${RUNS} loads each (headless, scrolled to the end)`);
  console.log("| | first 4 images settled (ms) | every image settled (ms) | total blocking time (ms) | browser memory (MB) |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${r.firstScreenMs.toFixed(0)} | ${r.allMs.toFixed(0)} | ${r.blockingMs.toFixed(0)} | ${r.memoryMb.toFixed(0)} |`);
  }
  console.log("\nthe feed's images as its servers sent them (median of the loads; a 304 is not counted)");
  console.log("| | image URLs asked for | images sent | URLs sent more than once | MB sent |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${r.imageUrls} | ${r.imageRequests} | ${r.urlsSentTwice} | ${r.imageMb.toFixed(1)} |`);
  }
  const veil = results["with Veil"];
  console.log(`\nstart-up, with Veil: ${veil.launchToFirstVerdictMs.toFixed(0)} ms from starting the browser to the first verdict; on a warm browser (a second tab), the first image judged ${veil.warmFirstImageMs.toFixed(0)} ms after it loaded, the slowest of the first four ${veil.warmWorstOfFourMs.toFixed(0)} ms`);
  console.log(`image URLs asked for only with Veil, over all loads: ${onlyWithVeil.length}${onlyWithVeil.length ? ` (${onlyWithVeil.slice(0, 5).join(", ")}${onlyWithVeil.length > 5 ? ", …" : ""})` : ""}`);
  return results;
}
