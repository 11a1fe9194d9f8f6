// The options page: import packs (checked by loading them before they are stored), list the
// installed ones with their quality, and export the user's labelled images as a dataset.
import { cpuWasm, loadFilter } from "./pkg/veil.js";
import { readLabels } from "./label-store.js";
import { deletePack, savePack } from "./pack-store.js";

const $ = (id) => document.getElementById(id);

async function ask(type, payload = {}) {
  const reply = await chrome.runtime.sendMessage({ type, ...payload });
  if (reply?.failure) throw new Error(reply.failure);
  return reply?.value;
}

function say(text, kind = "info") {
  $("message").textContent = text;
  $("message").dataset.kind = kind;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

const percent = (x) => `${(x * 100).toFixed(1)}%`;

/**
 * Held-out quality where the pack has it, else what training measured on validation images
 * (a pack nothing was trained for has neither).
 */
function qualityText({ quality: q, training: t }) {
  if (!q && t.validation_accuracy == null) return "not measured";
  if (!q) return `validation accuracy ${percent(t.validation_accuracy)} on ${t.validation_images} images`;
  return `ROC AUC ${q.auc.toFixed(3)}; recall ${percent(q.recall_at_reported_fpr)} at ≤ 5% false positives; ` +
    `balanced: recall ${percent(q.balanced.recall)}, false positives ${percent(q.balanced.false_positive_rate)} ` +
    `(${q.images} held-out images)`;
}

/**
 * The quality line, and under it the held-out images source by source and medium by medium,
 * where the pack has them.
 */
function qualityCell(metadata) {
  const td = cell(qualityText(metadata));
  for (const [by, className, groups] of [
    ["source", "sources", metadata.quality?.sources ?? []],
    ["medium", "media", metadata.quality?.media ?? []],
  ]) {
    if (groups.length === 0) continue;
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `by ${by} (${groups.length})`;
    const table = document.createElement("table");
    table.className = className;
    const heads = [by, "images", "to flag", "caught", "wrongly flagged"];
    table.append(rowOf(heads, "th"),
      ...groups.map((g) => rowOf([g.name, g.images, g.targets, g.caught, g.false_alarms])));
    details.append(summary, table);
    td.append(details);
  }
  return td;
}

function rowOf(values, tag = "td") {
  const tr = document.createElement("tr");
  tr.append(...values.map((value) => Object.assign(document.createElement(tag), { textContent: String(value) })));
  return tr;
}

async function renderPacks() {
  const packs = await ask("packs");
  $("packs").tBodies[0].replaceChildren(
    ...packs.map(({ id, builtIn, metadata, active }) => {
      const row = document.createElement("tr");
      row.dataset.packId = id;
      const t = metadata.training;
      const remove = document.createElement("td");
      if (!builtIn) {
        const button = document.createElement("button");
        button.textContent = "Remove";
        button.onclick = async () => {
          await deletePack(id);
          await ask("packsChanged");
          say(`Removed “${metadata.name}”.`);
          renderPacks();
        };
        remove.append(button);
      }
      row.append(
        cell(`${metadata.name}${builtIn ? " (built in)" : ""} — ${metadata.description}`),
        cell(metadata.keywords.join(", ")),
        cell(`${t.train_images} images, ${t.epochs} epochs`),
        qualityCell(metadata),
        cell(active ? "yes" : "no (add a keyword)"),
        remove,
      );
      return row;
    }),
  );
}

$("import").onchange = async () => {
  const file = $("import").files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  try {
    // Load it exactly as the judge will: a pack that fails here is never stored.
    const filter = await loadFilter(bytes, "cpu");
    const { name } = filter.metadata();
    filter.free();
    await savePack(bytes);
    await ask("packsChanged");
    say(`Imported “${name}”.`, "ok");
  } catch (error) {
    say(`Not imported: ${file.name} is not a usable filter pack (${error.message ?? error}). Your installed packs are unchanged.`, "error");
  } finally {
    $("import").value = "";
  }
  renderPacks();
};

async function renderLabels() {
  const { labels, problem } = await ask("labels");
  const hidden = labels.filter((label) => label.mark === "hide").length;
  $("label-count").textContent = `${labels.length} labelled images: ${hidden} to hide with the images like them, ${labels.length - hidden} not spoilers.`;
  if (problem) say(`Your labels: ${problem}.`, "error");
  $("forget-labels").disabled = labels.length === 0;
  $("export").disabled = labels.length === 0;
  return labels;
}

// The labelled images themselves, as a zip of class folders that veil-train trains from
// (veil_core::label_export). The bytes are read here, from the extension's own IndexedDB.
$("export").onclick = async () => {
  try {
    const { labels } = await readLabels();
    const { labelsDataset } = await cpuWasm();
    const zip = labelsDataset(labels.map((l) => l.mark), labels.map((l) => l.url), labels.map((l) => l.bytes));
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(new Blob([zip], { type: "application/zip" })),
      download: "veil-labels.zip",
    });
    link.click();
    // The download reads the blob after the click returns.
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    say(`Exported ${labels.length} labelled images as veil-labels.zip; its README.txt says how to train a filter from them.`, "ok");
  } catch (error) {
    say(`Not exported: ${error.message ?? error}`, "error");
  }
};

$("forget-labels").onclick = async () => {
  await ask("forgetLabels");
  say("Your labels are forgotten: every pack judges on its own again.", "ok");
  renderLabels();
};

renderPacks().catch((error) => say(`Could not list packs: ${error.message}`, "error"));
renderLabels();
