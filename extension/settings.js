// What the user chooses in the popup, with the defaults of a fresh install.
export const settingsKey = "settings";

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

/** The verdict cache key: one verdict per image URL, filter pack version and threshold. */
export function cacheKey(packVersion, strictness, url) {
  return `${packVersion}|${strictness}|${url}`;
}
