// The one place the network runs: reads the filter packs once, takes the bytes of same-origin
// images from the content script (read from the page's cache) and fetches the others (the
// extension's own context may read cross-origin pixels; a content script may not), and judges
// them a batch at a time on the pool of judging workers (judge-pool.js). Lives in the offscreen
// document (Chrome) or the background page (Firefox).
import { ContentMemory } from "./content-memory.js";
import { JudgePool } from "./judge-pool.js";
import { cpuWasm, loadFilter } from "./pkg/veil.js";
import { allPacks } from "./pack-store.js";

// Larger files are refused before decoding: no feed image is this big, a hostile one might be.
const MAX_IMAGE_BYTES = 32 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 15_000;

export class Judge {
  #wasm = cpuWasm();
  #pool = new JudgePool();
  // Verdicts by the picture's content, per pack and strictness: a picture is judged once.
  #memory = new ContentMemory();
  // `{id, builtIn, bytes, metadata}` per pack.
  #packs = null;
  // Batches run one at a time, each spread over the whole pool, which every tab shares.
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

  /** One result per URL: `{flagged, reason, label, probability, backend}` or `{error}`.
   * `bodies[i]`, where the page's frame could read it, is URL i's `{type, dataUrl}` from the
   * page's own cache; the others are fetched here. */
  judge(urls, keywords, strictness, backend, bodies = []) {
    // Downloads start at once, beside the batch being judged; a batch joins the network's queue
    // once its images are in, so a slow server holds up only its own batch.
    const images = urls.map((url, i) => (bodies[i] ? imageFromPage(bodies[i]) : fetchImage(url)));
    return Promise.all(images).then((images) => {
      const run = this.#queue.then(() => this.#judgeNow(images, keywords, strictness, backend));
      this.#queue = run.catch(() => {});
      return run;
    });
  }

  async #judgeNow(images, keywords, strictness, backend) {
    const packs = await this.#active(keywords);
    const results = images.map((image) => (image.bytes ? { flagged: false, reason: "" } : image));
    const judgeable = images.map((image, i) => [image, i]).filter(([image]) => image.bytes);
    const known = await this.#memory.lookup();
    for (const pack of packs) {
      const memoryKey = (content) => `${pack.id} ${strictness} ${content}`;
      const verdicts = await this.#pool.classifyBatch(
        pack, backend, judgeable.map(([image]) => image.bytes), strictness, (content) => known(memoryKey(content)),
      );
      judgeable.forEach(([, i], k) => {
        const verdict = verdicts[k];
        if (!verdict.error) {
          const { label, flagged, flaggedProbability, backend } = verdict;
          this.#memory.remember(memoryKey(verdict.content), { label, flagged, flaggedProbability, backend });
        }
        if (results[i].flagged) return; // an earlier pack already hides it
        results[i] = verdict.error
          ? { error: verdict.error }
          : { flagged: verdict.flagged, reason: verdict.flagged ? pack.metadata.name : "", label: verdict.label, probability: verdict.flaggedProbability, backend: verdict.backend };
      });
    }
    return results;
  }
}

/** The image's own URL, fetched here (another origin than the page's, or the page could not
 * read it): from the browser cache where this document's partition has it. */
async function fetchImage(url) {
  try {
    const response = await fetch(url, { credentials: "include", cache: "force-cache", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!response.ok) return { error: `the server answered ${response.status}` };
    return await checkedImage(response);
  } catch (error) {
    return { error: `could not fetch the image: ${error?.message ?? error}` };
  }
}

/** An image the page's frame read from the page's own cache, as a data URL. */
async function imageFromPage({ type, dataUrl }) {
  try {
    const response = await fetch(dataUrl);
    return await checkedImage(new Response(await response.blob(), { headers: { "content-type": type } }));
  } catch (error) {
    return { error: `could not read the image the page sent: ${error?.message ?? error}` };
  }
}

/** `{bytes}` of a response that holds a judgeable image, or why it is not judged. */
async function checkedImage(response) {
  const type = response.headers.get("content-type") ?? "";
  // Vector drawings (logos, icons) are not what the network was trained on: shown unjudged.
  if (type.includes("svg")) return { flagged: false, skip: true, reason: "vector image, not judged" };
  const length = Number(response.headers.get("content-length") ?? 0);
  if (length > MAX_IMAGE_BYTES) return { error: `the image is ${length} bytes, more than the ${MAX_IMAGE_BYTES} Veil reads` };
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length === 0) return { error: "the image is empty (0 bytes)" };
  if (bytes.length > MAX_IMAGE_BYTES) return { error: `the image is ${bytes.length} bytes, more than the ${MAX_IMAGE_BYTES} Veil reads` };
  return { bytes };
}
