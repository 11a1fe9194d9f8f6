// The one place the network runs: reads the filter packs once, takes the bytes of same-origin
// images from the content script (read from the page's cache) and fetches the others (the
// extension's own context may read cross-origin pixels; a content script may not), and judges
// them a batch at a time on the pool of judging workers (judge-pool.js). Lives in the offscreen
// document (Chrome) or the background page (Firefox).
import { ContentMemory } from "./content-memory.js";
import { JudgePool } from "./judge-pool.js";
import { cpuWasm, loadFilter } from "./pkg/veil.js";
import { allPacks } from "./pack-store.js";
import { clearLabels, putLabel, readLabels, updateLabels } from "./label-store.js";

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
  // `{labels, problem}` from label-store.js, read once until the labels change.
  #labels = null;
  // Pack id -> Promise<{version, marks, features}>: the labels as that pack's network sees them.
  #labelsByPack = new Map();

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

  /** Labels the picture at `url` "hide" or "show" for every active pack: fetches it, keeps its
   * bytes and each pack's features of it. A picture that cannot be fetched or decoded is
   * refused with the reason, and nothing is stored. */
  async addLabel(url, mark, keywords, backend) {
    const image = await fetchImage(url);
    if (!image.bytes) throw new Error(`Veil could not label this image: ${image.error ?? image.reason}`);
    const features = {};
    for (const pack of await this.#active(keywords)) {
      const [vector] = await this.#pool.featuresOf(pack, backend, [image.bytes]);
      if (vector.error) throw new Error(`Veil could not label this image: ${vector.error}`);
      features[pack.id] = vector;
    }
    await putLabel({ url, mark, bytes: image.bytes, features, at: Date.now() });
    this.#labelsChanged();
    return true;
  }

  /** `{labels: [{id, url, mark, at}], problem}`: what the options page lists. */
  async listLabels() {
    const { labels, problem } = await this.#readLabels();
    return { labels: labels.map(({ id, url, mark, at }) => ({ id, url, mark, at })), problem };
  }

  async forgetLabels() {
    await clearLabels();
    this.#labelsChanged();
    return true;
  }

  #labelsChanged() {
    this.#labels = null;
    this.#labelsByPack.clear();
  }

  #readLabels() {
    this.#labels ??= readLabels().then((read) => {
      if (read.problem) console.warn(`Veil: ${read.problem}`);
      return read;
    });
    return this.#labels;
  }

  /** The labels as `pack`'s network sees them, features computed (and kept) for labels made
   * before this pack was installed or turned on. */
  #labelsFor(pack, backend) {
    if (!this.#labelsByPack.has(pack.id)) {
      const made = this.#readLabels().then(async ({ labels }) => {
        const missing = labels.filter((label) => !label.features[pack.id]);
        if (missing.length) {
          const vectors = await this.#pool.featuresOf(pack, backend, missing.map((label) => label.bytes));
          missing.forEach((label, i) => {
            if (!vectors[i].error) label.features[pack.id] = vectors[i];
          });
          await updateLabels(missing).catch((error) => console.warn("Veil: label features not saved", error));
        }
        const usable = labels.filter((label) => label.features[pack.id]);
        const features = new Float32Array(usable.reduce((n, label) => n + label.features[pack.id].length, 0));
        let offset = 0;
        for (const label of usable) features.set(label.features[pack.id], offset), (offset += label.features[pack.id].length);
        const marks = usable.map((label) => label.mark);
        return { version: await digest(usable.map((label) => `${label.id}${label.mark}`).join(",")), marks, features };
      });
      made.catch(() => this.#labelsByPack.get(pack.id) === made && this.#labelsByPack.delete(pack.id));
      this.#labelsByPack.set(pack.id, made);
    }
    return this.#labelsByPack.get(pack.id);
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
      const labels = await this.#labelsFor(pack, backend);
      const memoryKey = (content) => `${pack.id} ${labels.version} ${strictness} ${content}`;
      const verdicts = await this.#pool.classifyBatch(
        pack, backend, judgeable.map(([image]) => image.bytes), strictness, (content) => known(memoryKey(content)), labels,
      );
      judgeable.forEach(([, i], k) => {
        const verdict = verdicts[k];
        if (!verdict.error) {
          const { label, flagged, flaggedProbability, backend, labelMatch } = verdict;
          this.#memory.remember(memoryKey(verdict.content), { label, flagged, flaggedProbability, backend, labelMatch });
        }
        if (results[i].flagged) return; // an earlier pack already hides it
        results[i] = verdict.error
          ? { error: verdict.error }
          : { flagged: verdict.flagged, reason: reason(pack, verdict), label: verdict.label, probability: verdict.flaggedProbability, backend: verdict.backend };
      });
    }
    return results;
  }
}

/** Why a verdict is what it is, in the words the page's tooltip shows. */
function reason(pack, { flagged, labelMatch }) {
  if (labelMatch) return labelMatch.mark === "hide" ? "you hid images like this" : "you marked one like it not a spoiler";
  return flagged ? pack.metadata.name : "";
}

/** A short hex digest of `text`: the labels' version in the verdict memory's keys. */
async function digest(text) {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return [...bytes.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
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
