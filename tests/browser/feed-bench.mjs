// A measurement, not a test (`cargo xtask bench`): what the extension costs a page. Loads the
// demo feed in headless Chromium with and without the extension, scrolls through all of it,
// and prints the time until every image is settled (judged, or loaded without the extension),
// the main thread's total blocking time (long tasks beyond 50 ms) and the browser's memory.
import { execFileSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { imagesSent } from "./feed.mjs";
import { CHROME_EXTENSION, ROOT, WORK, launchWithExtension, serveWww } from "./harness.mjs";

const RUNS = 3;

function blockingMonitor() {
  globalThis.__veilBlocking = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) globalThis.__veilBlocking += Math.max(0, entry.duration - 50);
  }).observe({ type: "longtask", buffered: true });
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

async function measure(withExtension, server, cdn) {
  server.clearRequests();
  cdn.clearRequests();
  const { context, profile, close } = await launchWithExtension(withExtension ? CHROME_EXTENSION : null);
  try {
    const page = await context.newPage();
    await page.addInitScript(blockingMonitor);
    await page.goto(`${server.url}/feed/feed.html?cdn=${cdn.url}/feed/`);
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
    return { firstScreenMs, allMs, blockingMs, memoryMb: browserMemoryMb(profile), ...imageDownloads([server, cdn]) };
  } finally {
    await close();
  }
}

const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const server = await serveWww();
const cdn = await serveWww();
const results = {};
const urls = {};
try {
  for (const withExtension of [false, true]) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(withExtension, server, cdn));
    const name = withExtension ? "with Veil" : "without Veil";
    urls[name] = new Set(runs.flatMap((run) => [...run.urls]));
    const numbers = Object.keys(runs[0]).filter((key) => typeof runs[0][key] === "number");
    results[name] = Object.fromEntries(numbers.map((key) => [key, median(runs.map((r) => r[key]))]));
  }
} finally {
  server.close();
  cdn.close();
}
const onlyWithVeil = [...urls["with Veil"]].filter((url) => !urls["without Veil"].has(url));
results["with Veil"].urlsOnlyWithVeil = onlyWithVeil.length;
console.log(`demo feed, median of ${RUNS} loads each (headless Chromium, scrolled to the end)`);
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
console.log(`image URLs asked for only with Veil, over all loads: ${onlyWithVeil.length}${onlyWithVeil.length ? ` (${onlyWithVeil.slice(0, 5).join(", ")}${onlyWithVeil.length > 5 ? ", …" : ""})` : ""}`);
writeFileSync(`${WORK}feed-bench.json`, JSON.stringify(results, null, 1));
