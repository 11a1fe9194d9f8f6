// The extension's hub, shared by both browsers' background scripts: settings, the verdict
// cache, the user's own labels, counts and the context menu. The network runs in judge.js;
// `callJudge(method, ...args)` reaches it wherever the browser lets it live.
import {
  addToTotals, cacheKey, clearVerdicts, forgetUrlLabels, readSettings, readTotals, readUrlLabels, readVerdicts,
  writeSettings, writeVerdicts,
} from "./storage.js";

export function startHub(callJudge) {
  const settings = readSettings;

  // Verdicts persist across restarts; the cache is bounded so it cannot grow without end.
  const CACHE_LIMIT = 5000;
  let verdictCache = null;
  function cache() {
    verdictCache ??= readVerdicts();
    return verdictCache;
  }
  let saveTimer = null;
  function saveCacheSoon(map) {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => {
      while (map.size > CACHE_LIMIT) map.delete(map.keys().next().value);
      writeVerdicts(map);
    }, 500);
  }

  // Labels used to be kept by URL alone in storage.local. They move to the judge, which keeps
  // each picture's bytes and features; one that can no longer be fetched is dropped, and so are
  // "revealed" entries: peeking at a spoiler says nothing about whether it is one.
  const migrated = readUrlLabels().then(async (old) => {
    const current = await settings();
    for (const [url, mark] of Object.entries(old)) {
      if (mark !== "hide" && mark !== "show") continue;
      await callJudge("addLabel", url, mark, current.keywords, current.backend)
        .catch((error) => console.warn(`Veil: the old label on ${url} was dropped: ${error?.message ?? error}`));
    }
    if (Object.keys(old).length) await forgetUrlLabels();
  });

  // A label changes the verdicts of every picture like it, under any URL.
  async function labelsChanged() {
    verdictCache = Promise.resolve(new Map());
    await clearVerdicts();
    await tellOpenPages("relabel");
  }

  // Open pages follow a change of settings or labels at once, without a reload.
  async function tellOpenPages(type) {
    for (const tab of await chrome.tabs.query({})) chrome.tabs.sendMessage(tab.id, { type }).catch(() => {});
  }

  async function judge(urls, bodies = []) {
    const current = await settings();
    await migrated;
    const held = cache();
    const map = await held;
    const packs = await callJudge("activePacks", current.keywords);
    const version = packs.map((p) => p.id).join("+");
    const results = {};
    const unknown = [];
    const unknownBodies = [];
    for (const [i, url] of urls.entries()) {
      if (!packs.length) results[url] = { flagged: false, reason: "no filter is on" };
      else if (map.has(cacheKey(version, current.strictness, url))) results[url] = map.get(cacheKey(version, current.strictness, url));
      else unknown.push(url), unknownBodies.push(bodies[i] ?? null);
    }
    if (unknown.length) {
      const judged = await callJudge("judge", unknown, current.keywords, current.strictness, current.backend, unknownBodies);
      // Labels or packs that changed meanwhile emptied the cache: these verdicts may be stale.
      const stillCurrent = verdictCache === held;
      unknown.forEach((url, i) => {
        results[url] = judged[i];
        // Failures are not cached: the next page load tries again.
        if (stillCurrent && !judged[i].error) map.set(cacheKey(version, current.strictness, url), judged[i]);
      });
      if (stillCurrent) saveCacheSoon(map);
    }
    return results;
  }

  // Hidden counts: per tab for the popup and the badge, and a running total.
  const tabCounts = new Map();
  async function countHidden(tabId, frameKey, hidden) {
    const frames = tabCounts.get(tabId) ?? new Map();
    const before = [...frames.values()].reduce((a, b) => a + b, 0);
    frames.set(frameKey, hidden);
    tabCounts.set(tabId, frames);
    const now = [...frames.values()].reduce((a, b) => a + b, 0);
    if (now > before) await addToTotals({ hidden: now - before });
    chrome.action.setBadgeText({ tabId, text: now ? String(now) : "" });
    return now;
  }
  chrome.tabs.onRemoved.addListener((tabId) => tabCounts.delete(tabId));

  // Load the network before the first page asks for it. A failed warm-up still counts as ready:
  // judging then reports the same failure per image, and the page fails closed.
  const warmedUp = settings()
    .then(({ keywords, backend }) => callJudge("warmUp", keywords, backend))
    .catch((error) => console.warn("Veil: warm-up failed", error));

  const handlers = {
    settings: () => settings(),
    saveSettings: async ({ change }) => {
      const saved = await writeSettings(change);
      await tellOpenPages("settingsChanged");
      return saved;
    },
    labels: () => callJudge("listLabels"),
    ready: () => warmedUp.then(() => true),
    judge: ({ urls, bodies }) => judge(urls, bodies),
    findKeywords: async ({ texts }) => callJudge("findKeywords", (await settings()).keywords, texts),
    hiddenCount: ({ hidden }, sender) => countHidden(sender.tab?.id, `${sender.frameId}:${sender.documentId ?? ""}`, hidden),
    label: async ({ url, label }) => {
      const { keywords, backend } = await settings();
      await callJudge("addLabel", url, label, keywords, backend);
      await labelsChanged();
    },
    forgetLabels: async () => {
      await callJudge("forgetLabels");
      await labelsChanged();
    },
    revealed: () => addToTotals({ revealed: 1 }),
    stats: async ({ tabId }) => {
      const frames = tabCounts.get(tabId) ?? new Map();
      const totals = await readTotals();
      return { page: [...frames.values()].reduce((a, b) => a + b, 0), total: totals.hidden, revealed: totals.revealed };
    },
    packs: async () => callJudge("listPacks", (await settings()).keywords),
    packsChanged: async () => {
      verdictCache = Promise.resolve(new Map());
      await clearVerdicts();
      return callJudge("reloadPacks");
    },
  };

  chrome.runtime.onMessage.addListener((message, sender, respond) => {
    const handler = message?.target === undefined ? handlers[message?.type] : undefined;
    if (!handler) return false;
    Promise.resolve(handler(message, sender)).then(
      (value) => respond({ value }),
      (error) => respond({ failure: String(error?.message ?? error) }),
    );
    return true;
  });


  const MENU = { "veil-show": "show", "veil-hide": "hide" };
  chrome.runtime.onInstalled.addListener(() => {
    chrome.contextMenus.create({ id: "veil-show", title: "Veil: not a spoiler", contexts: ["image"] });
    chrome.contextMenus.create({ id: "veil-hide", title: "Veil: hide images like this", contexts: ["image"] });
  });
  chrome.contextMenus.onClicked.addListener(async (info, tab) => {
    const label = MENU[info.menuItemId];
    if (!label || !info.srcUrl) return;
    // The page says whether it worked: a picture that cannot be fetched or decoded stores nothing.
    const tell = (message) => chrome.tabs.sendMessage(tab.id, { type: "labelResult", message }, { frameId: info.frameId }).catch(() => {});
    await handlers.label({ url: info.srcUrl, label }).then(
      () => tell(label === "hide" ? "Veil will hide images like this one." : "Veil will show images like this one."),
      (error) => tell(String(error?.message ?? error)),
    );
  });
}
