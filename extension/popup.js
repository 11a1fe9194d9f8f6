// The popup: every control saves the settings through the hub, which tells open pages.
const $ = (id) => document.getElementById(id);
let settings = await ask("settings");
// The page this popup is about: the active tab, or, where the popup was opened as a tab of its
// own, the tab used just before it.
const tab = (await chrome.tabs.query({ currentWindow: true }))
  .filter((t) => !t.url?.startsWith(chrome.runtime.getURL("")))
  .sort((a, b) => Number(b.active) - Number(a.active) || (b.lastAccessed ?? 0) - (a.lastAccessed ?? 0))[0];
const site = tab?.url ? new URL(tab.url).hostname : "";

async function save(change) {
  settings = await ask("saveSettings", { change });
  render();
}

async function ask(type, payload = {}) {
  const reply = await chrome.runtime.sendMessage({ type, ...payload });
  if (reply?.failure) throw new Error(reply.failure);
  return reply?.value;
}

function render() {
  $("enabled").checked = settings.enabled;
  $("strictness").value = settings.strictness;
  $("effect").value = settings.effect;
  $("site").checked = !settings.disabledSites.includes(site);
  $("site").disabled = !site;
  $("keywords").replaceChildren(
    ...settings.keywords.map((keyword) => {
      const item = document.createElement("li");
      const remove = document.createElement("button");
      remove.textContent = "×";
      remove.title = `Remove “${keyword}”`;
      remove.onclick = () => save({ keywords: settings.keywords.filter((k) => k !== keyword) });
      item.append(keyword, " ", remove);
      return item;
    }),
  );
  ask("packs").then(
    (packs) => {
      const active = packs.filter((p) => p.active).map((p) => p.metadata.name);
      $("active-packs").textContent = active.length
        ? `Image filters on: ${active.join(", ")}.`
        : `No image filter matches these keywords (installed: ${packs.map((p) => p.metadata.keywords.join(", ")).join("; ")}); posts that mention them are still hidden.`;
    },
    (error) => ($("active-packs").textContent = `Filters unavailable: ${error.message}`),
  );
}

$("add-keyword").onsubmit = (event) => {
  event.preventDefault();
  const keyword = $("keyword").value.trim();
  $("keyword").value = "";
  if (keyword && !settings.keywords.some((k) => k.toLowerCase() === keyword.toLowerCase())) {
    save({ keywords: [...settings.keywords, keyword] });
  }
};
$("enabled").onchange = () => save({ enabled: $("enabled").checked });
$("strictness").onchange = () => save({ strictness: $("strictness").value });
$("effect").onchange = () => save({ effect: $("effect").value });
$("site").onchange = () =>
  save({
    disabledSites: $("site").checked ? settings.disabledSites.filter((s) => s !== site) : [...settings.disabledSites, site],
  });

async function showCounts() {
  const { page, total, revealed } = await ask("stats", { tabId: tab?.id });
  $("counts").textContent = `Hidden on this page: ${page} · in total: ${total} · revealed by you: ${revealed}`;
}
render();
showCounts().catch(() => {});
setInterval(() => showCounts().catch(() => {}), 1000);
