// A measurement, not a test (`cargo xtask bench`): what the extension costs a page. Loads the
// demo feed in headless Chromium with and without the extension, scrolls through all of it,
// and prints the time until every image is settled (judged, or loaded without the extension),
// the main thread's total blocking time (long tasks beyond 50 ms) and the browser's memory.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { CHROME_EXTENSION, WORK, launchWithExtension, serveWww } from "./harness.mjs";

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

async function measure(withExtension, server, cdn) {
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
    return { firstScreenMs, allMs, blockingMs, memoryMb: browserMemoryMb(profile) };
  } finally {
    await close();
  }
}

const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
const server = await serveWww();
const cdn = await serveWww();
const results = {};
try {
  for (const withExtension of [false, true]) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(withExtension, server, cdn));
    const name = withExtension ? "with Veil" : "without Veil";
    results[name] = Object.fromEntries(Object.keys(runs[0]).map((key) => [key, median(runs.map((r) => r[key]))]));
  }
} finally {
  server.close();
  cdn.close();
}
console.log(`demo feed, median of ${RUNS} loads each (headless Chromium, scrolled to the end)`);
console.log("| | first 4 images settled (ms) | every image settled (ms) | total blocking time (ms) | browser memory (MB) |");
console.log("|---|---:|---:|---:|---:|");
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${r.firstScreenMs.toFixed(0)} | ${r.allMs.toFixed(0)} | ${r.blockingMs.toFixed(0)} | ${r.memoryMb.toFixed(0)} |`);
}
writeFileSync(`${WORK}feed-bench.json`, JSON.stringify(results, null, 1));
