// Benchmark, not a test (run by `cargo xtask bench`): how long one image takes to judge in
// headless Chromium, Veil's default pack on WebGPU and on the CPU against the named peer,
// TensorFlow.js (what today's NSFW-filter extensions run on) with the same architecture and
// input size on its WebGPU and WebAssembly backends. Prints medians; writes
// target/veil/latency.json.
import { writeFileSync } from "node:fs";
import { ROOT, WORK, launchChromium, serveWww } from "./harness.mjs";

const RUNS = 30;
const WARMUP = 5;

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
  const results = await page.evaluate(async ({ RUNS, WARMUP }) => {
    const median = (values) => values.sort((a, b) => a - b)[values.length >> 1];
    const { VeilFilter } = await import("/www/pkg/veil_wasm.js");
    const pack = new Uint8Array(await (await fetch("/www/packs/default.veilpack")).arrayBuffer());
    const probe = await VeilFilter.load(pack, "cpu");
    const meta = probe.metadata();
    probe.free();
    const size = meta.architecture["conv-stack"].input_size;
    const channels = meta.architecture["conv-stack"].channels;
    const dense = meta.architecture["conv-stack"].dense;
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
      const filter = await VeilFilter.load(pack, backend);
      await time(`veil ${filter.backend}`, () => filter.classifyRgba(size, size, rgba));
      filter.free();
    }

    tf.wasm.setWasmPaths("/node_modules/@tensorflow/tfjs-backend-wasm/dist/");
    for (const backend of ["webgpu", "wasm"]) {
      if (!(await tf.setBackend(backend))) {
        rows.push({ name: `tfjs ${backend}`, error: "backend unavailable" });
        continue;
      }
      await tf.ready();
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
      model.add(tf.layers.dense({ units: 2, activation: "softmax" }));
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
    return { inputSize: size, runs: RUNS, rows, userAgent: navigator.userAgent };
  }, { RUNS, WARMUP });

  console.log(`per-image latency, ${results.inputSize}×${results.inputSize} input, median of ${results.runs} after ${WARMUP} warm-up runs`);
  for (const row of results.rows) {
    console.log(row.error ? `${row.name.padEnd(12)} ${row.error}` : `${row.name.padEnd(12)} ${row.medianMs.toFixed(2).padStart(8)} ms  (min ${row.minMs.toFixed(2)})`);
  }
  writeFileSync(`${WORK}latency.json`, JSON.stringify(results, null, 2));
} finally {
  await browser.close();
  server.close();
}
