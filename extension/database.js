// The extension's IndexedDB ("veil"): filter packs (pack-store.js), verdicts by picture content
// (content-memory.js) and the user's labels with their pictures' bytes and features
// (label-store.js). These are megabytes, and the offscreen document that judges has no
// chrome.storage, so they live here rather than in storage.local.
const DB = "veil";
const VERSION = 3;
export const PACKS = "packs";
export const CONTENTS = "contents";
export const LABELS = "labels";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(PACKS)) db.createObjectStore(PACKS, { keyPath: "id" });
      if (!db.objectStoreNames.contains(CONTENTS)) db.createObjectStore(CONTENTS);
      if (!db.objectStoreNames.contains(LABELS)) db.createObjectStore(LABELS, { keyPath: "id", autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs `work(objectStore)` in one transaction on `store`; resolves to its request's result. */
export async function transact(store, mode, work) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(store, mode);
      const request = work(tx.objectStore(store));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}
