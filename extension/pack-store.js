// Filter packs: the one built into the extension and those the user imported on the options
// page, kept in the extension's IndexedDB (database.js).
import { PACKS, transact } from "./database.js";

/** A pack's identity: the SHA-256 of its bytes (its version, for the verdict cache). */
export async function packId(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every pack: `{id, bytes, builtIn}`, the built-in one first. */
export async function allPacks() {
  const builtIn = new Uint8Array(await (await fetch(chrome.runtime.getURL("packs/default.veilpack"))).arrayBuffer());
  const imported = await transact(PACKS, "readonly", (store) => store.getAll());
  return [{ id: await packId(builtIn), bytes: builtIn, builtIn: true }, ...imported.map((p) => ({ ...p, builtIn: false }))];
}

export async function savePack(bytes) {
  const id = await packId(bytes);
  await transact(PACKS, "readwrite", (store) => store.put({ id, bytes }));
  return id;
}

export function deletePack(id) {
  return transact(PACKS, "readwrite", (store) => store.delete(id));
}
