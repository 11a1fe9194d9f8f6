// The one place the network runs: reads the filter packs once, fetches image bytes (the
// extension's own context may read cross-origin pixels; a content script may not) and judges
// them a batch at a time on a pool of workers, each with its own wasm instance (wasm threads
// are out of reach, so parallel judging means several instances). Lives in the offscreen
// document (Chrome) or the background page (Firefox).
import { cpuWasm, loadFilter } from "./pkg/veil.js";
import { allPacks } from "./pack-store.js";

// Larger files are refused before decoding: no feed image is this big, a hostile one might be.
const MAX_IMAGE_BYTES = 32 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 15_000;
// One judging worker per core the browser reports, at most this many: each holds a wasm
// instance and the active packs' weights (extension/README.md gives the memory).
const POOL_LIMIT = 4;
// A worker silent this long on one request is taken for hung: it is replaced and the images it
// held fail closed. Generous, because a cold start on a loaded machine takes tens of seconds.
const WORKER_LIMIT_MS = 120_000;

/** The judging workers. A pack judged on the CPU uses all of them, a batch split evenly; on
 * WebGPU (one device) only the first. */
class JudgePool {
  size = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, POOL_LIMIT));
  #slots = [];
  #nextId = 0;
  // `${pack id} ${backend}` -> how many workers may judge it, once a worker said where it runs.
  #width = new Map();

  #slot(index) {
    if (this.#slots[index]) return this.#slots[index];
    const worker = new Worker(new URL("./judge-worker.js", import.meta.url), { type: "module" });
    const slot = { worker, loaded: new Set(), pending: new Map() };
    worker.onmessage = ({ data }) => {
      const request = slot.pending.get(data.id);
      if (!request) return;
      slot.pending.delete(data.id);
      clearTimeout(request.timer);
      if (slot.closing && !slot.pending.size) slot.worker.terminate();
      if (data.failure === undefined) return request.resolve(data);
      if (data.unloaded) slot.loaded.delete(request.key);
      request.reject(new Error(data.failure));
      if (data.broken) this.#replace(index, `a judging worker broke (${data.failure}) and was replaced`);
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

  /** `filter[method](...args)` in worker `index`, with `pack` loaded on `backend` there. */
  #call(index, pack, backend, method, args) {
    const slot = this.#slot(index);
    const key = `${pack.id} ${backend}`;
    const bytes = slot.loaded.has(key) ? undefined : pack.bytes;
    slot.loaded.add(key);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#replace(index, "a judging worker stopped answering and was replaced"), WORKER_LIMIT_MS);
      slot.pending.set(id, { resolve, reject, timer, key });
      slot.worker.postMessage({ id, packId: pack.id, bytes, backend, method, args });
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

  /** One verdict or `{error}` per image (encoded bytes), the images split over the workers. */
  async classifyBatch(pack, backend, images, strictness) {
    const width = Math.min(this.#width.get(`${pack.id} ${backend}`) ?? 1, images.length);
    const share = Math.ceil(images.length / width);
    const parts = Array.from({ length: width }, (_, index) => images.slice(index * share, (index + 1) * share));
    const replies = await Promise.allSettled(parts.map((part, index) => this.#call(index, pack, backend, "classifyBatch", [part, strictness])));
    return replies.flatMap((reply, index) =>
      reply.status === "fulfilled" ? reply.value : parts[index].map(() => ({ error: String(reply.reason?.message ?? reply.reason) })),
    );
  }
}

export class Judge {
  #wasm = cpuWasm();
  #pool = new JudgePool();
  // `{id, builtIn, bytes, metadata}` per pack.
  #packs = null;
  // Batches run one at a time: the device (or the one CPU thread) is shared by every tab.
  #queue = Promise.resolve();

  async #loadPacks() {
    this.#packs ??= allPacks().then((packs) =>
      Promise.all(
        packs.map(async ({ id, bytes, builtIn }) => {
          // Loading on the CPU reads the metadata without touching the GPU.
          const probe = await loadFilter(bytes, "cpu");
          const metadata = probe.metadata();
          probe.free();
          return { id, builtIn, bytes, metadata };
        }),
      ),
    );
    return this.#packs;
  }

  async #active(keywords) {
    const packs = await this.#loadPacks();
    const matcher = new (await this.#wasm).KeywordMatcher(keywords);
    try {
      return packs.filter((pack) => matcher.turnsOn(pack.metadata.keywords));
    } finally {
      matcher.free();
    }
  }

  /** `[{id, name}]` of the packs the user's keywords turn on. */
  async activePacks(keywords) {
    return (await this.#active(keywords)).map(({ id, metadata }) => ({ id, name: metadata.name }));
  }

  /** Every installed pack with its metadata, and whether the keywords turn it on. */
  async listPacks(keywords) {
    const active = new Set((await this.#active(keywords)).map((p) => p.id));
    return (await this.#loadPacks()).map(({ id, builtIn, metadata }) => ({ id, builtIn, metadata, active: active.has(id) }));
  }

  /** Loads the active packs on `backend` in the pool and runs one blank image through each, so
   * the first real verdict does not wait for kernel compilation and buffer allocation. */
  async warmUp(keywords, backend) {
    for (const pack of await this.#active(keywords)) await this.#pool.warmUp(pack, backend);
    return true;
  }

  async reloadPacks() {
    this.#packs = null;
    this.#pool.close();
    this.#pool = new JudgePool();
    return (await this.#loadPacks()).length;
  }

  /** For each text, the first keyword it mentions, or null. */
  async findKeywords(keywords, texts) {
    const matcher = new (await this.#wasm).KeywordMatcher(keywords);
    try {
      return texts.map((text) => matcher.find(text) ?? null);
    } finally {
      matcher.free();
    }
  }

  /** One result per URL: `{flagged, reason, label, probability, backend}` or `{error}`. */
  judge(urls, keywords, strictness, backend) {
    const run = this.#queue.then(() => this.#judgeNow(urls, keywords, strictness, backend));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #judgeNow(urls, keywords, strictness, backend) {
    const packs = await this.#active(keywords);
    const images = await Promise.all(urls.map(fetchImage));
    const results = images.map((image) => (image.bytes ? { flagged: false, reason: "" } : image));
    const judgeable = images.map((image, i) => [image, i]).filter(([image]) => image.bytes);
    for (const pack of packs) {
      const verdicts = await this.#pool.classifyBatch(pack, backend, judgeable.map(([image]) => image.bytes), strictness);
      judgeable.forEach(([, i], k) => {
        const verdict = verdicts[k];
        if (results[i].flagged) return; // an earlier pack already hides it
        results[i] = verdict.error
          ? { error: verdict.error }
          : { flagged: verdict.flagged, reason: verdict.flagged ? pack.metadata.name : "", label: verdict.label, probability: verdict.flaggedProbability, backend: verdict.backend };
      });
    }
    return results;
  }
}

/** The image's own URL, fetched once (from the browser cache where the page already has it). */
async function fetchImage(url) {
  try {
    const response = await fetch(url, { credentials: "include", cache: "force-cache", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!response.ok) return { error: `the server answered ${response.status}` };
    const type = response.headers.get("content-type") ?? "";
    // Vector drawings (logos, icons) are not what the network was trained on: shown unjudged.
    if (type.includes("svg")) return { flagged: false, skip: true, reason: "vector image, not judged" };
    const length = Number(response.headers.get("content-length") ?? 0);
    if (length > MAX_IMAGE_BYTES) return { error: `the image is ${length} bytes, more than the ${MAX_IMAGE_BYTES} Veil reads` };
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.length === 0) return { error: "the image is empty (0 bytes)" };
    if (bytes.length > MAX_IMAGE_BYTES) return { error: `the image is ${bytes.length} bytes, more than the ${MAX_IMAGE_BYTES} Veil reads` };
    return { bytes };
  } catch (error) {
    return { error: `could not fetch the image: ${error?.message ?? error}` };
  }
}
