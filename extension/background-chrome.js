// Chrome's service worker. A service worker is stopped when idle and would lose the loaded
// network, so the judge lives in an offscreen document that stays.
import { startHub } from "./hub.js";

let creating = null;
async function ensureOffscreen() {
  const url = chrome.runtime.getURL("offscreen.html");
  const existing = await chrome.runtime.getContexts({ contextTypes: ["OFFSCREEN_DOCUMENT"], documentUrls: [url] });
  // A listed document may still be loading, its listener not yet there: wait for its creation.
  if (existing.length) return creating;
  creating ??= chrome.offscreen
    .createDocument({ url, reasons: ["BLOBS"], justification: "Runs the filter's WebAssembly network on image bytes." })
    .finally(() => (creating = null));
  await creating;
}

startHub(async (method, ...args) => {
  await ensureOffscreen();
  const reply = await chrome.runtime.sendMessage({ target: "offscreen", method, args });
  if (reply?.failure) throw new Error(reply.failure);
  return reply;
});
