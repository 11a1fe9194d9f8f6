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

/** Runs batches of 4 images, with the strictness naming each one's fault, on one pool in a page;
 * resolves to each batch's results. */
async function batches(faults, limitMs = 120_000) {
  const page = await env.browser.newPage();
  try {
    await page.goto(`${env.server.url}/tests/browser/fixtures/`);
    return await page.evaluate(
      async ({ pool, worker, faults, limitMs }) => {
        const { JudgePool } = await import(pool);
        const judges = new JudgePool({ workerUrl: new URL(worker, location.href), limitMs });
        const pack = { id: "test", bytes: new Uint8Array(4) };
        const images = Array.from({ length: 4 }, () => new Uint8Array(8));
        const results = [];
        for (const fault of faults) results.push(await judges.classifyBatch(pack, "cpu", images, fault));
        return results;
      },
      {
        pool: `/${CHROME_EXTENSION.slice(ROOT.length)}/judge-pool.js`,
        worker: "/tests/browser/fixtures/faulty-judge-worker.js",
        faults,
        limitMs,
      },
    );
  } finally {
    await page.close();
  }
}

for (const [fault, does, reason, limitMs] of [
  ["crash", "crashes", /a judging worker crashed \(.*injected crash.*\) and was replaced/, undefined],
  ["hang", "hangs", /a judging worker stopped answering and was replaced/, 1000],
  ["trap", "traps", /a judging worker broke \(RuntimeError: unreachable\) and was replaced/, undefined],
]) {
  test(`a judging worker that ${does} fails its images closed with the reason, and a new worker judges the next batch`, async () => {
    const [before, failed, after] = await batches(["balanced", fault, "balanced"], limitMs);
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
