// The seam: one pack, one network, three backends. The trainer's own scores (of the weights as
// the pack stores them, which its thresholds and quality were measured on), the native CPU
// backend reloading the pack file, and the browser's WebGPU path and the CPU paths of both wasm
// modules must give the same probabilities for the same held-out images.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { PARITY_TOLERANCE, WORK, nativePredictions, openPlayground, withPlayground } from "./harness.mjs";

const env = withPlayground();

function maxDifference(expected, actual) {
  let worst = 0;
  for (const label of Object.keys(expected)) {
    assert.ok(label in actual, `label ${label} missing`);
    worst = Math.max(worst, Math.abs(expected[label] - actual[label]));
  }
  return worst;
}

test("native CPU, browser WebGPU and both wasm modules' CPU paths agree within 1e-4 on 20 held-out images", async (t) => {
  const native = nativePredictions();
  assert.equal(native.length, 20, "the parity set is 20 images");
  const trainerScores = new Map(
    JSON.parse(readFileSync(`${WORK}runs/default/test-predictions.json`, "utf8")).map((p) => [p.file, p.scores]),
  );
  const images = native.map((n) => readFileSync(n.file).toString("base64"));
  const { page } = await openPlayground(env.browser, env.server.url);

  const browserResults = await page.evaluate(async (images) => {
    const { loadFilter } = await import("/pkg/veil.js");
    const pack = new Uint8Array(await (await fetch("/packs/default.veilpack")).arrayBuffer());
    const decode = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const results = { hasWebGpu: "gpu" in navigator };
    const loaders = {
      webgpu: () => loadFilter(pack, "webgpu"),
      cpu: () => loadFilter(pack, "cpu"),
      // The WebGPU module keeps Flex to fall back on: its CPU path must agree too.
      gpuModuleCpu: async () => {
        const gpu = await import("/pkg/veil_wasm_gpu.js");
        await gpu.default();
        return gpu.VeilFilter.load(pack, "cpu");
      },
    };
    for (const [name, load] of Object.entries(loaders)) {
      let filter;
      try {
        filter = await load();
      } catch (error) {
        results[name] = { error: String(error.message ?? error) };
        continue;
      }
      const verdicts = [];
      for (const image of images) verdicts.push(await filter.classifyEncoded(decode(image)));
      results[name] = { backend: filter.backend, module: filter.module, verdicts };
      filter.free();
    }
    return results;
  }, images);

  const report = { tolerance: PARITY_TOLERANCE, images: native.length };
  // The pack on disk reproduces what the trainer measured (native, both on Flex).
  let worstReload = 0;
  for (const n of native) {
    const relative = n.file.split("/data/default/")[1];
    assert.ok(trainerScores.has(relative), `${relative} is in the run's test predictions`);
    worstReload = Math.max(worstReload, maxDifference(trainerScores.get(relative), n.verdict.scores));
  }
  report.nativeReloadVsTrainer = worstReload;
  assert.ok(worstReload <= PARITY_TOLERANCE, `reloaded pack differs from the trainer's scores by ${worstReload}`);

  for (const [name, module] of [["cpu", "cpu"], ["gpuModuleCpu", "webgpu"]]) {
    const result = browserResults[name];
    assert.ok(!result.error, `browser CPU path of the ${module} module failed: ${result.error}`);
    assert.deepEqual([result.backend, result.module], ["cpu", module]);
    report[`browserCpuVsNative_${module}Module`] = Math.max(
      ...native.map((n, i) => maxDifference(n.verdict.scores, result.verdicts[i].scores)),
    );
    const difference = report[`browserCpuVsNative_${module}Module`];
    assert.ok(difference <= PARITY_TOLERANCE, `browser CPU in the ${module} module differs by ${difference}`);
  }

  if (!browserResults.hasWebGpu) {
    t.diagnostic("this Chromium exposes no navigator.gpu: the WebGPU path was not checked here");
    report.browserWebGpuVsNative = null;
  } else {
    assert.ok(!browserResults.webgpu.error, `browser WebGPU path failed: ${browserResults.webgpu.error}`);
    assert.deepEqual([browserResults.webgpu.backend, browserResults.webgpu.module], ["webgpu", "webgpu"]);
    report.browserWebGpuVsNative = Math.max(
      ...native.map((n, i) => maxDifference(n.verdict.scores, browserResults.webgpu.verdicts[i].scores)),
    );
    assert.ok(
      report.browserWebGpuVsNative <= PARITY_TOLERANCE,
      `browser WebGPU differs by ${report.browserWebGpuVsNative}`,
    );
  }
  // Verdict labels agree too (they follow from the scores, but this is what a user sees).
  native.forEach((n, i) => assert.equal(browserResults.cpu.verdicts[i].label, n.verdict.label, n.file));
  t.diagnostic(JSON.stringify(report));
  writeFileSync(`${WORK}parity.json`, JSON.stringify(report, null, 2));
});
