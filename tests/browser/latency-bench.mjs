// Benchmark, not a test (run by `cargo xtask bench`): how long one image takes to judge in
// headless Chromium, Veil's default pack on WebGPU and on the CPU against the named peer,
// TensorFlow.js (what today's NSFW-filter extensions run on) with the same architecture and
// input size on its WebGPU and WebAssembly backends. Prints medians; writes
// target/veil/latency.json. `VEIL_BENCH_PACK=path/to.veilpack` (under the repository root)
// measures another pack: the S0 conv stack or EfficientNet-Lite0. Then the extension's pool of
// judging workers: images per second with all its workers against one.
import { writeFileSync } from "node:fs";
import { CHROME_EXTENSION, ROOT, WORK, launchChromium, serveWww } from "./harness.mjs";

const RUNS = 30;
const WARMUP = 5;
const PACK = `/${process.env.VEIL_BENCH_PACK ?? "www/packs/default.veilpack"}`;
// The Chrome build's judging worker (`cargo xtask extension`), beside its copy of the modules.
const POOL_WORKER = `/${CHROME_EXTENSION.slice(ROOT.length)}/judge-worker.js`;

// Serve the repository root: the page under /www, the peer under /node_modules.
const server = await serveWww(ROOT);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}/www/index.html`);
  await page.waitForSelector("body[data-state=ready]", { timeout: 120_000 });
  for (const script of ["tfjs/dist/tf.min.js", "tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js", "tfjs-backend-wasm/dist/tf-backend-wasm.min.js"]) {
    await page.addScriptTag({ url: `/node_modules/@tensorflow/${script}` });
  }
  const results = await page.evaluate(async ({ RUNS, WARMUP, PACK, POOL_WORKER }) => {
    const median = (values) => values.sort((a, b) => a - b)[values.length >> 1];
    const { loadFilter } = await import("/www/pkg/veil.js");
    const pack = new Uint8Array(await (await fetch(PACK)).arrayBuffer());
    const probe = await loadFilter(pack, "cpu");
    const meta = probe.metadata();
    probe.free();
    const [[kind, architecture]] = Object.entries(meta.architecture);
    const size = architecture.input_size;
    const rgba = new Uint8Array(size * size * 4).map((_, i) => (i * 2654435761) >>> 24);
    const rows = [];

    async function time(name, judge) {
      for (let i = 0; i < WARMUP; i++) await judge();
      const times = [];
      for (let i = 0; i < RUNS; i++) {
        const start = performance.now();
        await judge();
        times.push(performance.now() - start);
      }
      rows.push({ name, medianMs: median(times), minMs: Math.min(...times) });
    }

    for (const backend of ["webgpu", "cpu"]) {
      const filter = await loadFilter(pack, backend);
      await time(`veil ${filter.backend}`, () => filter.classifyRgba(size, size, rgba));
      filter.free();
    }

    // The extension's judging pool: its own worker script, CPU module, as many workers as it
    // starts here (one per core, at most 4) against one, on the same 8 images per worker.
    const poolSize = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 4));
    const throughput = [];
    for (const workers of [...new Set([1, poolSize])]) {
      const pool = Array.from({ length: workers }, () => new Worker(POOL_WORKER, { type: "module" }));
      let nextId = 0;
      const call = (worker, message) => new Promise((resolve, reject) => {
        const id = nextId++;
        const listener = ({ data }) => {
          if (data.id !== id) return;
          worker.removeEventListener("message", listener);
          data.failure === undefined ? resolve(data.value) : reject(new Error(data.failure));
        };
        worker.addEventListener("message", listener);
        worker.postMessage({ id, packId: "bench", backend: "cpu", ...message });
      });
      const judge = (worker) => call(worker, { method: "classifyRgba", args: [size, size, rgba] });
      await Promise.all(pool.map((worker) => call(worker, { bytes: pack, method: "classifyRgba", args: [size, size, rgba] })));
      const start = performance.now();
      await Promise.all(pool.map(async (worker) => { for (let i = 0; i < 8; i++) await judge(worker); }));
      throughput.push({ workers, imagesPerSecond: (workers * 8 * 1000) / (performance.now() - start) });
      pool.forEach((worker) => worker.terminate());
    }

    tf.wasm.setWasmPaths("/node_modules/@tensorflow/tfjs-backend-wasm/dist/");
    for (const backend of ["webgpu", "wasm"]) {
      if (!(await tf.setBackend(backend))) {
        rows.push({ name: `tfjs ${backend}`, error: "backend unavailable" });
        continue;
      }
      await tf.ready();
      const model = kind === "efficientnet-lite0" ? efficientNetLite0(architecture) : convStack(architecture);
      await time(`tfjs ${backend}`, async () => {
        const output = tf.tidy(() => {
          const pixels = tf.tensor3d(rgba, [size, size, 4], "int32").slice([0, 0, 0], [size, size, 3]);
          return model.predict(pixels.toFloat().div(255).expandDims(0));
        });
        await output.data();
        output.dispose();
      });
      model.dispose();
    }
    return { pack: PACK, architecture: kind, inputSize: size, runs: RUNS, rows, throughput, userAgent: navigator.userAgent };

    // The pack's network as TensorFlow.js layers (random weights: only the time is compared).
    function convStack({ channels, dense, num_classes }) {
      const model = tf.sequential();
      channels.forEach((filters, index) => {
        model.add(tf.layers.conv2d({ filters, kernelSize: 3, strides: 2, padding: "same", ...(index === 0 ? { inputShape: [size, size, 3] } : {}) }));
        model.add(tf.layers.batchNormalization());
        model.add(tf.layers.reLU());
      });
      model.add(tf.layers.flatten());
      model.add(tf.layers.dense({ units: dense }));
      model.add(tf.layers.batchNormalization());
      model.add(tf.layers.reLU());
      model.add(tf.layers.dropout({ rate: 0.5 }));
      model.add(tf.layers.dense({ units: num_classes, activation: "softmax" }));
      return model;
    }

    // Its stages as in crates/veil-core/src/efficientnet.rs: (repeats, kernel, stride, expansion, channels).
    function efficientNetLite0({ num_classes }) {
      const stages = [[1, 3, 1, 1, 16], [2, 3, 2, 6, 24], [2, 5, 2, 6, 40], [3, 3, 2, 6, 80], [3, 5, 1, 6, 112], [4, 5, 2, 6, 192], [1, 3, 1, 6, 320]];
      const convNorm = (x, filters, kernelSize, strides, relu6) => {
        const y = tf.layers.batchNormalization().apply(tf.layers.conv2d({ filters, kernelSize, strides, padding: "same", useBias: false }).apply(x));
        return relu6 ? tf.layers.reLU({ maxValue: 6 }).apply(y) : y;
      };
      const input = tf.input({ shape: [size, size, 3] });
      let x = convNorm(input, 32, 3, 2, true);
      let channels = 32;
      for (const [repeats, kernelSize, firstStride, expansion, output] of stages) {
        for (let repeat = 0; repeat < repeats; repeat++) {
          const strides = repeat === 0 ? firstStride : 1;
          let y = expansion === 1 ? x : convNorm(x, channels * expansion, 1, 1, true);
          y = tf.layers.depthwiseConv2d({ kernelSize, strides, padding: "same", useBias: false }).apply(y);
          y = tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization().apply(y));
          y = convNorm(y, output, 1, 1, false);
          x = strides === 1 && channels === output ? tf.layers.add().apply([x, y]) : y;
          channels = output;
        }
      }
      x = tf.layers.globalAveragePooling2d({}).apply(convNorm(x, 1280, 1, 1, true));
      return tf.model({ inputs: input, outputs: tf.layers.dense({ units: num_classes, activation: "softmax" }).apply(x) });
    }
  }, { RUNS, WARMUP, PACK, POOL_WORKER });

  console.log(`${results.pack} (${results.architecture}): per-image latency, ${results.inputSize}×${results.inputSize} input, median of ${results.runs} after ${WARMUP} warm-up runs`);
  for (const row of results.rows) {
    console.log(row.error ? `${row.name.padEnd(12)} ${row.error}` : `${row.name.padEnd(12)} ${row.medianMs.toFixed(2).padStart(8)} ms  (min ${row.minMs.toFixed(2)})`);
  }
  for (const { workers, imagesPerSecond } of results.throughput) {
    console.log(`extension pool, ${workers} worker(s), CPU module: ${imagesPerSecond.toFixed(1)} images/s`);
  }
  writeFileSync(`${WORK}latency.json`, JSON.stringify(results, null, 2));
} finally {
  await browser.close();
  server.close();
}
