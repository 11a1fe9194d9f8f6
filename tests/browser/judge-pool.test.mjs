// The extension's pool of judging workers when a worker fails (issue 19: a worker that crashes or
// hangs is replaced and its batch fails closed with a reason). The pool is the Chrome build's own
// judge-pool.js; its workers run a fault-injecting stand-in (fixtures/faulty-judge-worker.js),
// since a real wasm instance cannot be made to crash on demand.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { CHROME_EXTENSION, ROOT, launchChromium, serveWww } from "./harness.mjs";

const env = {};
before(async () => {
  env.server = await serveWww(ROOT);
  env.browser = await launchChromium();
});
after(async () => {
  await env.browser?.close();
  env.server?.close();
});

/** Runs batches of images (each an array of byte values; the stand-in keys an image by its
 * bytes), with the strictness naming each one's fault, on one pool in a page; `known` holds
 * verdicts by content key. Resolves to each batch's results. */
async function batches(faults, { limitMs = 120_000, images = [[1], [2], [3], [4]], known = {} } = {}) {
  const page = await env.browser.newPage();
  try {
    await page.goto(`${env.server.url}/tests/browser/fixtures/`);
    return await page.evaluate(
      async ({ pool, worker, faults, limitMs, images, known }) => {
        const { JudgePool } = await import(pool);
        const judges = new JudgePool({ workerUrl: new URL(worker, location.href), limitMs });
        const pack = { id: "test", bytes: new Uint8Array(4) };
        const bytes = images.map((values) => new Uint8Array(values));
        const results = [];
        for (const fault of faults) results.push(await judges.classifyBatch(pack, "cpu", bytes, fault, (key) => known[key]));
        return results;
      },
      {
        pool: `/${CHROME_EXTENSION.slice(ROOT.length)}/judge-pool.js`,
        worker: "/tests/browser/fixtures/faulty-judge-worker.js",
        faults,
        limitMs,
        images,
        known,
      },
    );
  } finally {
    await page.close();
  }
}

test("a picture is judged once: twice in a batch, one network pass; known by its content, none", async () => {
  const remembered = { flagged: true, label: "fantasy", flaggedProbability: 0.9 };
  const [first, second] = await batches(["balanced", "balanced"], {
    images: [[1, 2], [3], [1, 2], [4]],
    known: { 4: remembered },
  });
  for (const results of [first, second]) {
    assert.deepEqual(results.map((result) => result.content), ["1,2", "3", "1,2", "4"]);
    assert.deepEqual(results[3], { ...remembered, content: "4" }, "a known picture is not judged");
    // However the pool split the batch, no network pass saw more than the two unknown pictures.
    assert.ok(results.slice(0, 3).every((result) => result.flagged === false && result.judgedWith <= 2), JSON.stringify(results));
  }
  // In the first batch (one worker, until the pool knows the backend) the duplicate shared the
  // pass of its twin.
  assert.equal(first[0].worker, first[2].worker);
  assert.equal(first[0].judgedWith, 2);
});

for (const [fault, does, reason, limitMs] of [
  ["crash", "crashes", /a judging worker crashed \(.*injected crash.*\) and was replaced/, undefined],
  ["hang", "hangs", /a judging worker stopped answering and was replaced/, 1000],
  ["trap", "traps", /a judging worker broke \(RuntimeError: unreachable\) and was replaced/, undefined],
]) {
  test(`a judging worker that ${does} fails its images closed with the reason, and a new worker judges the next batch`, async () => {
    const [before, failed, after] = await batches(["balanced", fault, "balanced"], { limitMs });
    assert.ok(before.every((result) => result.flagged === false), JSON.stringify(before));
    assert.equal(failed.length, 4);
    // Every worker judged a share of the batch, and each failed its own images.
    assert.ok(failed.every((result) => reason.test(result.error)), JSON.stringify(failed));
    assert.ok(after.every((result) => result.flagged === false), JSON.stringify(after));
    // The first batch ran on one worker (the pool widens once it knows the backend); the one
    // after the fault on new ones.
    const workersBefore = new Set(before.map((result) => result.worker));
    assert.equal(workersBefore.size, 1);
    assert.ok(after.every((result) => !workersBefore.has(result.worker)), JSON.stringify({ before, after }));
  });
}
