// What the extension tests know about the demo feed: what the native model says about each
// image (the expectation), how to watch paints, and how to read the page's final state.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PARITY_TOLERANCE, ROOT, WORK } from "./harness.mjs";

/** post id → "flagged" | "shown" (native CPU verdicts) | "covered" (broken: fail closed).
 * An image whose native probability is within the parity tolerance of the threshold has no
 * expectation: the browser may round it to either side. */
export function expectedFeed() {
  const { posts } = JSON.parse(readFileSync(`${ROOT}www/feed/posts.json`, "utf8"));
  const native = new Map(
    readFileSync(`${WORK}feed-native.jsonl`, "utf8").trim().split("\n").flatMap((line) => {
      const { file, verdict, threshold } = JSON.parse(line);
      if (Math.abs(verdict.flaggedProbability - threshold) <= PARITY_TOLERANCE) return [];
      return [[file.split("/").pop(), verdict.flagged ? "flagged" : "shown"]];
    }),
  );
  const expected = new Map();
  for (const post of posts) {
    if (!post.image) continue;
    const name = post.image.split("/").pop();
    if (post.expect === "covered" || post.expect === "shown") expected.set(post.id, post.expect);
    else if (native.has(name)) expected.set(post.id, native.get(name));
  }
  return expected;
}

/** Runs in the page before its scripts: before every frame is painted, records each image that
 * would be painted visible and unblurred (open shadow roots included). */
export function paintMonitor() {
  const painted = new Set();
  globalThis.__veilPainted = painted;
  // Frames seen: a stalled page (no frames, so no scroll events either) tells itself apart.
  globalThis.__veilFrames = 0;
  // The page's uncaught errors, for the message of a feed that stopped loading.
  const errors = [];
  globalThis.__veilErrors = errors;
  addEventListener("error", (event) => errors.push(event.message));
  const roots = (root) => [root, ...[...root.querySelectorAll("*")].flatMap((e) => (e.shadowRoot ? roots(e.shadowRoot) : []))];
  function visibleUrl(element) {
    const style = getComputedStyle(element);
    if (style.visibility !== "visible" || style.display === "none" || Number(style.opacity) === 0) return null;
    if (style.filter.includes("blur")) return null;
    const box = element.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) return null;
    if (element instanceof HTMLImageElement) return element.complete && element.naturalWidth ? element.currentSrc : null;
    if (element instanceof HTMLVideoElement) return element.poster;
    return /url\("?(.*?)"?\)/.exec(style.backgroundImage)?.[1] ?? null;
  }
  function frame() {
    for (const root of roots(document)) {
      for (const element of root.querySelectorAll("img, video[poster], .background")) {
        const url = visibleUrl(element);
        if (url) painted.add(url);
      }
    }
    globalThis.__veilFrames++;
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
}

/** Scrolls to the end of the feed, once it has rendered every post, and waits until the
 * extension has judged every image. */
export async function scrollToEnd(page) {
  // Frames (and so the feed's infinite scroll) come only to the tab in front.
  await page.bringToFront();
  // A deadline, not a step count: on a loaded machine the feed's pages arrive more slowly.
  const deadline = Date.now() + 120_000;
  for (;;) {
    // To the very bottom, past every lazy image: Veil judges one only once it comes near the
    // screen, as the browser loads it only then.
    const done = await page.evaluate(() => {
      window.scrollBy(0, window.innerHeight);
      return document.body.dataset.complete === "true" && scrollY + innerHeight >= document.documentElement.scrollHeight - 1;
    });
    if (done) break;
    if (Date.now() > deadline) throw new Error(`the feed did not finish loading within 120 s of scrolling: ${await feedProgress(page)}`);
    await page.waitForTimeout(50);
  }
  await page.waitForFunction(
    () => {
      const all = (root) => [
        root,
        ...[...root.querySelectorAll("*")].flatMap((e) => (e.shadowRoot ? all(e.shadowRoot) : e.contentDocument ? all(e.contentDocument) : [])),
      ];
      const elements = all(document).flatMap((root) => [...root.querySelectorAll("article img:not(.avatar), article video, article .background, body > img")]);
      return elements.every((e) => ["shown", "flagged", "revealed"].includes(e.getAttribute("data-veil-state")));
    },
    null,
    { timeout: 120_000, polling: 250 },
  );
}

/** Where a feed that stopped loading stands: how much it rendered, whether it still paints. */
function feedProgress(page) {
  return page.evaluate(() => JSON.stringify({
    articles: document.querySelectorAll("article").length,
    visibility: document.visibilityState,
    framesPainted: globalThis.__veilFrames ?? null,
    scrollY: Math.round(scrollY),
    scrollHeight: document.documentElement.scrollHeight,
    innerHeight,
    more: document.getElementById("more")?.textContent ?? null,
    moreTop: Math.round(document.getElementById("more")?.getBoundingClientRect().top ?? NaN),
    errors: globalThis.__veilErrors ?? null,
  }));
}

/** Each post's kind, class, image and the extension's state for it, plus what was painted. */
export function readFeed(page) {
  return page.evaluate(async () => {
    const { posts } = await (await fetch("posts.json")).json();
    const imageOf = {};
    const result = posts.map((post) => {
      const article = document.getElementById(post.id);
      const host = article.querySelector("feed-card");
      const frame = article.querySelector("iframe");
      const element = host
        ? host.shadowRoot?.querySelector("img") ?? host
        : frame
          ? frame.contentDocument?.querySelector("img") ?? frame
          : article.querySelector("img:not(.avatar), video, .background");
      if (post.image) imageOf[post.id] = post.image.split("/").pop();
      const [state, reason] = ["data-veil-state", "data-veil-reason"].map((name) => element?.getAttribute(name) ?? null);
      return { id: post.id, kind: post.kind, class: post.class, state, reason };
    });
    const frames = [...document.querySelectorAll("article iframe")].map((f) => {
      if (!f.contentWindow?.__veilPainted) throw new Error(`no paint monitor in the iframe of ${f.closest("article").id}`);
      return f.contentWindow.__veilPainted;
    });
    const painted = [globalThis.__veilPainted, ...frames].flatMap((set) => [...set]);
    return { posts: result, imageOf, paintedUnblurred: painted };
  });
}

/** Asserts what `readFeed` saw against `expectedFeed()`: flagged and broken images covered,
 * the rest shown, and no flagged image ever painted unblurred. */
export function checkFeed(feed, expected, name) {
  for (const post of feed.posts) {
    const want = expected.get(post.id);
    if (!want) continue;
    const wanted = want === "flagged" || want === "covered" ? "flagged" : "shown";
    const why = post.reason ? ` (${post.reason})` : "";
    assert.equal(post.state, wanted, `${name}: post ${post.id} (${post.kind}, ${post.class}) should be ${wanted}, is ${post.state}${why}`);
  }
  const leaked = feed.paintedUnblurred.filter((url) => [...expected].some(([id, want]) => want !== "shown" && url.endsWith(`/${feed.imageOf[id]}`)));
  assert.deepEqual(leaked, [], `${name}: flagged images were painted unblurred`);
}

/** Image URL → how many times the feed's servers (`serveWww` handles) sent it in full (200)
 * since their requests were last cleared. */
export function imagesSent(servers) {
  const sent = new Map();
  for (const server of servers) {
    for (const [path, byStatus] of server.requests()) {
      if (path.startsWith("/feed/images/") && byStatus["200"]) sent.set(`${server.url}${path}`, byStatus["200"]);
    }
  }
  return sent;
}
