// The user's labels, in the extension's IndexedDB (database.js): `{id, url, mark, bytes,
// features, at}` per labelled picture, `mark` "hide" (hide images like this) or "show" (not a
// spoiler), `features` the feature vector each pack's network reads for it, by pack id. The
// bytes stay so that a new or updated pack can compute its own features for the same labels.
import { LABELS, transact } from "./database.js";

/** Every label, and how many stored records were unreadable (and were removed). */
export async function readLabels() {
  let records;
  try {
    records = await transact(LABELS, "readonly", (store) => store.getAll());
  } catch (error) {
    // A store that cannot be read at all is started afresh rather than breaking judging.
    await clearLabels().catch(() => {});
    return { labels: [], unreadable: 1, problem: `the label store could not be read (${error?.message ?? error}) and was reset` };
  }
  const labels = records.filter(isLabel);
  const broken = records.filter((record) => !isLabel(record));
  if (broken.length) await deleteLabels(broken.map((record) => record?.id).filter((id) => id !== undefined));
  return { labels, unreadable: broken.length, problem: broken.length ? `${broken.length} damaged labels were removed` : null };
}

function isLabel(record) {
  return (
    record && typeof record.url === "string" && (record.mark === "hide" || record.mark === "show") &&
    record.bytes instanceof Uint8Array && record.bytes.length > 0 && record.features && typeof record.features === "object"
  );
}

/** Stores `label` in place of any label on the same URL; resolves to its id. */
export async function putLabel(label) {
  const { labels } = await readLabels();
  await deleteLabels(labels.filter((old) => old.url === label.url).map((old) => old.id));
  return transact(LABELS, "readwrite", (store) => store.put(label));
}

/** Stores changed labels (features added for another pack). */
export function updateLabels(labels) {
  return transact(LABELS, "readwrite", (store) => labels.map((label) => store.put(label)).at(-1));
}

export function deleteLabels(ids) {
  if (!ids.length) return Promise.resolve();
  return transact(LABELS, "readwrite", (store) => ids.map((id) => store.delete(id)).at(-1));
}

export function clearLabels() {
  return transact(LABELS, "readwrite", (store) => store.clear());
}
