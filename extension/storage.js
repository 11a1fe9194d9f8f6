// Everything the extension keeps in chrome.storage.local (packs, verdicts by content and labels
// live in IndexedDB: database.js): the keys, the defaults of a fresh install, and every read and
// write. Only the hub imports this; the popup, the options page and
// the content scripts ask the hub, which tells open pages when settings or labels change.

export const DEFAULT_SETTINGS = {
  enabled: true,
  // Typing a keyword hides posts that mention it and turns on the packs that list it.
  keywords: ["Game of Thrones"],
  strictness: "balanced",
  effect: "blur",
  disabledSites: [],
  // When an image cannot be judged (broken, too slow), hide it: a spoiler filter fails closed.
  failClosed: true,
  timeoutMs: 20000,
  backend: "auto",
};

const KEYS = {
  settings: "settings",
  verdicts: "verdicts",
  labels: "labels",
  totalHidden: "totalHidden",
  totalRevealed: "totalRevealed",
};

async function read(key, fallback) {
  return (await chrome.storage.local.get(key))[key] ?? fallback;
}

/** The user's settings over the defaults. */
export async function readSettings() {
  return { ...DEFAULT_SETTINGS, ...(await read(KEYS.settings, {})) };
}

/** Stores `change` over the current settings and returns them all. */
export async function writeSettings(change) {
  const settings = { ...(await readSettings()), ...change };
  await chrome.storage.local.set({ [KEYS.settings]: settings });
  return settings;
}

/** Labels as earlier versions kept them: image URL → "hide", "show" or "revealed". They now
 * live in IndexedDB with their pictures (label-store.js); the hub moves them there. */
export async function readUrlLabels() {
  return read(KEYS.labels, {});
}

export async function forgetUrlLabels() {
  await chrome.storage.local.remove(KEYS.labels);
}

/** The persisted verdict cache, as a Map from `cacheKey` to verdict. */
export async function readVerdicts() {
  return new Map(Object.entries(await read(KEYS.verdicts, {})));
}

export async function writeVerdicts(map) {
  await chrome.storage.local.set({ [KEYS.verdicts]: Object.fromEntries(map) });
}

export async function clearVerdicts() {
  await chrome.storage.local.remove(KEYS.verdicts);
}

/** Running totals for the popup: images hidden, and images the user revealed. */
export async function readTotals() {
  const stored = await chrome.storage.local.get([KEYS.totalHidden, KEYS.totalRevealed]);
  return { hidden: stored[KEYS.totalHidden] ?? 0, revealed: stored[KEYS.totalRevealed] ?? 0 };
}

export async function addToTotals({ hidden = 0, revealed = 0 }) {
  const totals = await readTotals();
  await chrome.storage.local.set({
    [KEYS.totalHidden]: totals.hidden + hidden,
    [KEYS.totalRevealed]: totals.revealed + revealed,
  });
}

/** The verdict cache key: one verdict per image URL, filter pack version and threshold. */
export function cacheKey(packVersion, strictness, url) {
  return `${packVersion}|${strictness}|${url}`;
}
