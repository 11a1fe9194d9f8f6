// The pool of judging workers behind judge.js: wasm threads are out of reach, so judging in
// parallel means several wasm instances, one per dedicated worker (judge-worker.js). It sends
// each worker a pack's bytes once, splits batches, and replaces a worker that crashes, traps or
// stops answering, failing the images it held closed with the reason.

// One judging worker per core the browser reports, at most this many: each holds a wasm
// instance and the active packs' weights (extension/README.md gives the memory).
const POOL_LIMIT = 4;
// A worker silent this long on one request is taken for hung: it is replaced and the images it
// held fail closed. Generous, because a cold start on a loaded machine takes tens of seconds.
const WORKER_LIMIT_MS = 120_000;

/** The judging workers. A pack judged on the CPU uses all of them, a batch split evenly; on
 * WebGPU (one device) only the first. `workerUrl` and `limitMs` are there for the tests. */
export class JudgePool {
  size = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, POOL_LIMIT));
  #slots = [];
  #nextId = 0;
  // `${pack id} ${backend}` -> how many workers may judge it, once a worker said where it runs.
  #width = new Map();
  #workerUrl;
  #limitMs;

  constructor({ workerUrl = new URL("./judge-worker.js", import.meta.url), limitMs = WORKER_LIMIT_MS } = {}) {
    this.#workerUrl = workerUrl;
    this.#limitMs = limitMs;
  }

  #slot(index) {
    if (this.#slots[index]) return this.#slots[index];
    const worker = new Worker(this.#workerUrl, { type: "module" });
    // `labelled`: pack key -> the version of the user's labels that worker holds for it.
    const slot = { worker, loaded: new Set(), labelled: new Map(), pending: new Map() };
    worker.onmessage = ({ data }) => {
      const request = slot.pending.get(data.id);
      if (!request) return;
      slot.pending.delete(data.id);
      clearTimeout(request.timer);
      if (slot.closing && !slot.pending.size) slot.worker.terminate();
      if (data.failure === undefined) return request.resolve(data);
      if (data.unloaded) slot.loaded.delete(request.key);
      if (data.unloaded || request.sentLabels) slot.labelled.delete(request.key);
      if (!data.broken) return request.reject(new Error(data.failure));
      const reason = `a judging worker broke (${data.failure}) and was replaced`;
      request.reject(new Error(reason));
      this.#replace(index, reason);
    };
    worker.onerror = (event) => this.#replace(index, `a judging worker crashed (${event.message || "no message"}) and was replaced`);
    this.#slots[index] = slot;
    return slot;
  }

  /** Ends worker `index`, failing whatever it still holds with `reason`; the next request for
   * that place starts a new worker. */
  #replace(index, reason) {
    const slot = this.#slots[index];
    if (!slot) return;
    this.#slots[index] = null;
    slot.worker.terminate();
    for (const request of slot.pending.values()) {
      clearTimeout(request.timer);
      request.reject(new Error(reason));
    }
  }

  /** Ends every worker once it has answered what it holds (the installed packs changed). */
  close() {
    for (const slot of this.#slots) {
      if (!slot) continue;
      slot.closing = true;
      if (!slot.pending.size) slot.worker.terminate();
    }
  }

  /** `filter[method](...args)` in worker `index`, with `pack` loaded on `backend` there and,
   * where given, the user's `labels` (`{version, marks, features}`) set on it. */
  #call(index, pack, backend, method, args, labels) {
    const slot = this.#slot(index);
    const key = `${pack.id} ${backend}`;
    const bytes = slot.loaded.has(key) ? undefined : pack.bytes;
    slot.loaded.add(key);
    const newLabels = labels && slot.labelled.get(key) !== labels.version ? labels : undefined;
    if (newLabels) slot.labelled.set(key, labels.version);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#replace(index, "a judging worker stopped answering and was replaced"), this.#limitMs);
      slot.pending.set(id, { resolve, reject, timer, key, sentLabels: Boolean(newLabels) });
      slot.worker.postMessage({ id, packId: pack.id, bytes, backend, method, args, labels: newLabels });
    }).then((reply) => {
      this.#width.set(key, reply.backend === "cpu" ? this.size : 1);
      return reply.value;
    });
  }

  /** Loads `pack` on `backend` in every worker that will judge it and runs one blank image
   * through each, so that no real verdict waits for compilation. Resolves once the first worker
   * is ready; the others warm up behind it. */
  async warmUp(pack, backend) {
    const blank = new Uint8Array(8 * 8 * 4).fill(255);
    await this.#call(0, pack, backend, "classifyRgba", [8, 8, blank]);
    for (let index = 1; index < this.#width.get(`${pack.id} ${backend}`); index++) {
      this.#call(index, pack, backend, "classifyRgba", [8, 8, blank]).catch(() => {});
    }
  }

  /** The feature vector `pack`'s network reads for each image (encoded bytes), or `{error}`:
   * what a label on that image keeps. */
  featuresOf(pack, backend, images) {
    return this.#call(0, pack, backend, "featuresOf", [images]);
  }

  /** One verdict or `{error}` per image (encoded bytes), the images split over the workers,
   * following the user's `labels` where given. Each verdict carries `content`, the picture's
   * content key; `known(content)` returns a verdict judged before for that key, or undefined,
   * so that no picture is judged twice. */
  async classifyBatch(pack, backend, images, strictness, known, labels) {
    const width = Math.min(this.#width.get(`${pack.id} ${backend}`) ?? 1, images.length);
    const share = Math.ceil(images.length / width);
    const parts = Array.from({ length: width }, (_, index) => images.slice(index * share, (index + 1) * share));
    const replies = await Promise.allSettled(parts.map((part, index) => this.#judgePart(index, pack, backend, part, strictness, known, labels)));
    return replies.flatMap((reply, index) =>
      reply.status === "fulfilled" ? reply.value : parts[index].map(() => ({ error: String(reply.reason?.message ?? reply.reason) })),
    );
  }

  /** Worker `index` decodes `images` and keys them by content; only pictures `known` does not
   * know, each once, go through the network. */
  async #judgePart(index, pack, backend, images, strictness, known, labels) {
    const keyed = await this.#call(index, pack, backend, "prepareBatch", [images]);
    const remembered = new Map(keyed.flatMap(({ key }) => {
      const verdict = key && known(key);
      return verdict ? [[key, verdict]] : [];
    }));
    const unjudged = [...new Set(keyed.flatMap(({ key }) => (key && !remembered.has(key) ? [key] : [])))];
    const judged = unjudged.length ? await this.#call(index, pack, backend, "judgePrepared", [unjudged, strictness], labels) : [];
    const verdicts = new Map([...remembered, ...unjudged.map((key, k) => [key, judged[k]])]);
    return keyed.map(({ key, error }) => (key ? { ...verdicts.get(key), content: key } : { error }));
  }
}
