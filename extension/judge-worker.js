// One judge of the pool (judge-pool.js): a dedicated worker with its own wasm instance and the
// packs loaded in it. It only runs the network; judge.js fetches the bytes, the pool spreads them.
import { loadFilter } from "./pkg/veil.js";

// `${packId} ${backend}` -> Promise<VeilFilter>. The pool sends a pack's bytes with the first
// request for it, and again after a failed load.
const filters = new Map();

self.onmessage = async ({ data: { id, packId, bytes, backend, method, args, labels } }) => {
  const key = `${packId} ${backend}`;
  if (bytes && !filters.has(key)) {
    const loading = loadFilter(bytes, backend);
    filters.set(key, loading);
    loading.catch(() => filters.get(key) === loading && filters.delete(key));
  }
  try {
    if (!filters.has(key)) throw new Error(`pack ${packId} is not loaded in this judging worker`);
    const filter = await filters.get(key);
    if (labels) filter.setLabels(labels.marks, labels.features);
    self.postMessage({ id, backend: filter.backend, value: await filter[method](...args) });
  } catch (error) {
    // A trap (a Rust panic) may leave the instance broken: the pool then replaces this worker.
    const broken = error instanceof WebAssembly.RuntimeError;
    self.postMessage({ id, failure: String(error?.message ?? error), unloaded: !filters.has(key), broken });
  }
};
