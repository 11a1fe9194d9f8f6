// The playground page as a person uses it: pick an image, read the verdict; load a bad pack,
// keep the good one.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ROOT, nativePredictions, openPlayground, withPlayground } from "./harness.mjs";

const env = withPlayground();

const VERDICT = /: (\S+) \d+\.\d% · (shown|hidden \(click to reveal\)) · (webgpu|cpu) · \d+\.\d ms$/;

test("picking an image shows its label, probability, backend and time", async () => {
  const [first] = nativePredictions();
  const { page, errors } = await openPlayground(env.browser, env.server.url);
  await page.setInputFiles("#image-file", first.file);
  const row = page.locator("#results li[data-label]");
  await row.waitFor({ timeout: 60_000 });
  const text = await row.textContent();
  const match = text.match(VERDICT);
  assert.ok(match, `verdict text: ${text}`);
  assert.equal(match[1], first.verdict.label, "the page agrees with the native verdict");
  assert.equal(await row.getAttribute("data-flagged"), String(first.verdict.flagged));
  assert.equal(match[3], await page.getAttribute("body", "data-backend"));
  assert.deepEqual(errors, []);
});

test("a corrupt pack is refused with a message and the loaded filter keeps working", async () => {
  const pack = readFileSync(`${ROOT}www/packs/default.veilpack`);
  const damaged = Buffer.from(pack);
  damaged[damaged.length >> 1] ^= 0xff;
  const { page } = await openPlayground(env.browser, env.server.url);
  const before = await page.textContent("#pack-status");
  await page.setInputFiles("#pack-file", { name: "damaged.veilpack", mimeType: "application/octet-stream", buffer: damaged });
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /damaged\.veilpack was not loaded: .*corrupt/);
  assert.equal(await page.textContent("#pack-status"), before);

  const [first] = nativePredictions();
  await page.setInputFiles("#image-file", first.file);
  await page.locator("#results li[data-label]").waitFor({ timeout: 60_000 });
});

test("a file that is not an image gets an error line, not a broken page", async () => {
  const { page, errors } = await openPlayground(env.browser, env.server.url);
  await page.setInputFiles("#image-file", { name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not a png at all") });
  const row = page.locator("#results li[data-error]");
  await row.waitFor({ timeout: 30_000 });
  assert.match(await row.textContent(), /notes\.png: could not decode the image/);
  assert.deepEqual(errors, []);
});

/** Prepares a page to list every wasm module it fetches, in `modules`. */
function recordModules(modules) {
  return (page) => page.on("request", (request) => {
    const match = request.url().match(/(veil_wasm_\w+)_bg\.wasm/);
    if (match) modules.push(match[1]);
  });
}

test("where WebGPU renders in software or is missing, the page judges in the CPU module and never fetches the WebGPU one", async () => {
  const modules = [];
  const { page, errors } = await openPlayground(env.browser, env.server.url, recordModules(modules));
  assert.deepEqual([await page.getAttribute("body", "data-backend"), await page.getAttribute("body", "data-module")], ["cpu", "cpu"]);
  // Headless Chromium's adapter is SwiftShader (or none, where WebGPU is off).
  assert.match(await page.textContent("#pack-status"), /in the CPU module \(WebGPU unavailable: (the WebGPU adapter \(.+\) renders in software|this browser (exposes|offers) no WebGPU)/);
  assert.deepEqual(modules, ["veil_wasm_cpu"]);
  assert.deepEqual(errors, []);
});

test("without WebGPU the page runs the filter on the CPU and says why", async () => {
  const modules = [];
  const hideWebGpu = async (page) => {
    await recordModules(modules)(page);
    await page.addInitScript(() => Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined }));
  };
  const { page, errors } = await openPlayground(env.browser, env.server.url, hideWebGpu);
  assert.equal(await page.getAttribute("body", "data-backend"), "cpu");
  assert.match(await page.textContent("#pack-status"), /WebGPU unavailable: this browser exposes no WebGPU/);
  assert.deepEqual(modules, ["veil_wasm_cpu"]);
  const [first] = nativePredictions();
  await page.setInputFiles("#image-file", first.file);
  const row = page.locator("#results li[data-label]");
  await row.waitFor({ timeout: 60_000 });
  assert.equal(await row.getAttribute("data-backend"), "cpu");
  assert.equal(await row.getAttribute("data-label"), first.verdict.label);
  assert.deepEqual(errors, []);
});
