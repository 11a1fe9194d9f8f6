// Verdicts by picture content (the content keys judge-pool.js returns), so the same picture under
// another URL, host, query string or CDN path is judged once. Bounded: the least recently used
// leave first. Kept in the extension's IndexedDB, so a restart does not judge everything again.
import { CONTENTS, transact } from "./database.js";

// About 200 bytes an entry: a megabyte at most.
const LIMIT = 5000;
const RECORD = "verdicts";

export class ContentMemory {
  #entries = null;
  #saveTimer = null;

  #load() {
    // An unreadable store (a browser without IndexedDB for extensions, a corrupt record) costs
    // only the memory of earlier sessions.
    this.#entries ??= transact(CONTENTS, "readonly", (store) => store.get(RECORD))
      .then((saved) => new Map(Array.isArray(saved) ? saved : []))
      .catch((error) => (console.warn("Veil: verdicts by content not read", error), new Map()));
    return this.#entries;
  }

  /** A synchronous lookup for one batch: `key` → the verdict stored for it, or undefined. */
  async lookup() {
    const entries = await this.#load();
    return (key) => {
      const verdict = entries.get(key);
      if (verdict === undefined) return undefined;
      entries.delete(key);
      entries.set(key, verdict);
      return verdict;
    };
  }

  async remember(key, verdict) {
    const entries = await this.#load();
    entries.delete(key);
    entries.set(key, verdict);
    clearTimeout(this.#saveTimer);
    this.#saveTimer = setTimeout(() => {
      for (const old of entries.keys()) {
        if (entries.size <= LIMIT) break;
        entries.delete(old);
      }
      transact(CONTENTS, "readwrite", (store) => store.put([...entries], RECORD))
        .catch((error) => console.warn("Veil: verdicts by content not saved", error));
    }, 500);
  }
}
