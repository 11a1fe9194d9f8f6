// Thin glue: every decision (decoding, resizing, the network, thresholds) happens in Rust.
import { loadFilter as loadVeilFilter } from "./pkg/veil.js";

const $ = (id) => document.getElementById(id);
let filter = null;
let packBytes = null;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function loadFilter(bytes, backend) {
  const next = await loadVeilFilter(bytes, backend);
  filter?.free();
  filter = next;
  packBytes = bytes;
  const meta = filter.metadata();
  const note = filter.fallbackReason ? ` (WebGPU unavailable: ${filter.fallbackReason})` : "";
  $("pack-status").textContent =
    `${meta.name}: ${meta.labels.join(" / ")}, hides “${meta.flagged_labels.join(", ")}”. ` +
    (meta.training.validation_accuracy == null ? "" :
      `Validation accuracy ${(meta.training.validation_accuracy * 100).toFixed(1)}%. `) +
    `Running on ${filter.backend} in the ${filter.module === "webgpu" ? "WebGPU" : "CPU"} module${note}.`;
  document.body.dataset.backend = filter.backend;
  document.body.dataset.module = filter.module;
}

async function judge(file) {
  const item = document.createElement("li");
  const picture = document.createElement("img");
  picture.src = URL.createObjectURL(file);
  picture.alt = file.name;
  picture.className = "veiled"; // hidden until judged safe: never show first, judge later
  const frame = document.createElement("div");
  frame.className = "thumb"; // clips the blur to the thumbnail
  frame.append(picture);
  const text = document.createElement("span");
  text.textContent = `${file.name}: judging…`;
  item.append(frame, text);
  $("results").prepend(item);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const v = await filter.classifyEncoded(bytes, $("strictness").value);
    Object.assign(item.dataset, { label: v.label, flagged: v.flagged, backend: v.backend });
    text.textContent = `${file.name}: ${v.label} ${(v.probability * 100).toFixed(1)}% · ` +
      `${v.flagged ? "hidden (click to reveal)" : "shown"} · ${v.backend} · ${v.ms.toFixed(1)} ms`;
    text.className = v.flagged ? "flagged" : "";
    if (!v.flagged) picture.className = "";
    else picture.onclick = () => { picture.className = ""; };
  } catch (error) {
    item.dataset.error = "true";
    text.textContent = `${file.name}: ${error.message ?? error}`;
  }
}

async function judgeAll(files) {
  for (const file of files) await judge(file);
}

async function main() {
  try {
    const response = await fetch("packs/default.veilpack");
    if (!response.ok) throw new Error(`the default pack is missing (HTTP ${response.status}): run \`cargo xtask demo\``);
    await loadFilter(new Uint8Array(await response.arrayBuffer()), $("backend").value);
    document.body.dataset.state = "ready";
  } catch (error) {
    showError(String(error.message ?? error));
    document.body.dataset.state = "error";
  }

  $("backend").onchange = async () => {
    try { showError(""); await loadFilter(packBytes, $("backend").value); }
    catch (error) { showError(`Could not switch backend: ${error.message ?? error}`); }
  };
  $("pack-file").onchange = async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      showError("");
      await loadFilter(new Uint8Array(await file.arrayBuffer()), $("backend").value);
    } catch (error) {
      // The previous filter stays loaded: a bad file never leaves the page without one.
      showError(`${file.name} was not loaded: ${error.message ?? error}`);
    }
  };
  $("image-file").onchange = (event) => judgeAll([...event.target.files]);
  const zone = $("drop-zone");
  zone.ondragover = (event) => { event.preventDefault(); zone.classList.add("over"); };
  zone.ondragleave = () => zone.classList.remove("over");
  zone.ondrop = (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    judgeAll([...event.dataTransfer.files]);
  };
}

main();
