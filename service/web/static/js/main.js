// Entry point: the two modes, the model banner, messages, the API key and keyboard shortcuts.
import * as api from "./api.js";
import { ImageMode } from "./image.js";
import { VideoMode } from "./video.js";

const $ = (id) => document.getElementById(id);

const messageBox = $("message");
function notify(error, retry = null) {
  console.error(error);
  $("message-text").textContent = error.message || String(error);
  $("message-retry").hidden = !retry;
  $("message-retry").onclick = () => { clearMessage(); retry(); };
  messageBox.hidden = false;
}
function clearMessage() {
  messageBox.hidden = true;
}
$("message-dismiss").addEventListener("click", clearMessage);

const image = new ImageMode({
  stage: $("image-stage"), canvas: $("image-canvas"), overlay: $("image-overlay"), prompts: $("image-prompts"),
  file: $("image-file"), newObject: $("image-new-object"), undo: $("image-undo"), redo: $("image-redo"),
  clearAll: $("image-clear"), refine: $("image-refine"), refineNote: $("image-refine-note"),
  compare: $("image-compare"), split: $("image-split"), splitLine: $("image-split-line"),
  exportPng: $("image-export-png"), exportCutout: $("image-export-cutout"), exportCoco: $("image-export-coco"),
  list: $("image-objects"), scores: $("image-scores"), timings: $("image-timings"), status: $("image-status"),
  busy: $("image-busy"),
}, { notify, clearMessage });

const video = new VideoMode({
  stage: $("video-stage"), canvas: $("video-canvas"), overlay: $("video-overlay"), prompts: $("video-prompts"),
  video: $("video-element"), file: $("video-file"), camera: $("video-camera"), fps: $("video-fps"),
  refine: $("video-refine"), play: $("video-play"), step: $("video-step"), backward: $("video-backward"),
  newObject: $("video-new-object"), exportJson: $("video-export-json"), exportZip: $("video-export-zip"),
  timeline: $("video-timeline"), list: $("video-objects"), frameInfo: $("video-frame-info"),
  fpsInfo: $("video-fps-info"), stageTimings: $("video-timings"), status: $("video-status"),
  session: $("video-session"),
}, { notify, clearMessage });

// For the browser tests and the console: the two modes' state.
window.sam2refiner = { image, video };

// ------------------------------------------------------------------ tabs
let mode = "image";
function setMode(next) {
  mode = next;
  for (const m of ["image", "video"]) {
    $(`${m}-mode`).hidden = m !== next;
    $(`tab-${m}`).setAttribute("aria-selected", m === next ? "true" : "false");
  }
  (next === "image" ? image : video).drawPromptLayer();  // drawn at the size it is shown at
}
$("tab-image").addEventListener("click", () => setMode("image"));
$("tab-video").addEventListener("click", () => setMode("video"));

// ------------------------------------------------------------------ model banner
async function loadModel() {
  let model;
  try {
    model = await api.getModel();
  } catch (e) {
    $("model-banner").textContent = "model: unknown";
    notify(e, loadModel);
    return;
  }
  const w = model.weights || {};
  const refiner = model.refiner ?? (w.refiner_checkpoint ? "trained" : "random");
  const sam2 = w.sam2_checkpoint ? `SAM 2 ${w.sam2_checkpoint.split("/").pop()}` : "SAM 2 RANDOM";
  const reason = model.config_reason ? ` (${model.config_reason})` : "";
  const banner = $("model-banner");
  banner.textContent =
    `${model.config}${reason} at ${model.image_size} px · ${model.device} · ${model.dtype} · ${sam2} · refiner ${refiner}` +
    (model.ready ? "" : " · loading");
  banner.title = [w.sam2_source, w.refiner_sha256 && `refiner sha256 ${w.refiner_sha256}`].filter(Boolean).join("\n");
  const warning = $("random-warning");
  warning.hidden = !w.random_weights;
  warning.textContent = w.warning || "RANDOM WEIGHTS: masks are meaningless";
  image.setModel({ ...model, refiner });
  video.setModel({ ...model, refiner });
  if (!model.ready) setTimeout(loadModel, 2000);  // the banner follows the warm-up
}

// ------------------------------------------------------------------ API key
const keyInput = $("api-key");
keyInput.value = api.apiKey();
keyInput.addEventListener("change", () => { api.setApiKey(keyInput.value.trim()); clearMessage(); loadModel(); });

// ------------------------------------------------------------------ paste and keyboard
document.addEventListener("paste", (e) => {
  const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
  if (file) {
    e.preventDefault();
    setMode("image");
    image.open(file);
  }
});

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, textarea, select") || e.altKey) return;
  if (e.target.closest("button") && (e.key === " " || e.key === "Enter")) return;  // the button's own action
  const key = e.key.toLowerCase(), ctrl = e.ctrlKey || e.metaKey;
  if (mode === "image") {
    if (ctrl && key === "z") e.shiftKey ? image.redo() : image.undo();
    else if (ctrl && key === "y") image.redo();
    else if (ctrl) return;
    else if (key === "n") image.newObject();
    else if (key === "z") image.undo();
    else if (key === "y") image.redo();
    else if (key === "h") image.toggleHidden();
    else if (key === "delete" || key === "backspace") image.selected && image.remove(image.selectedId);
    else if (key === "r" && !image.el.refine.disabled) { image.el.refine.checked = !image.el.refine.checked; image.showState(); }
    else if (key === "c") { image.el.compare.checked = !image.el.compare.checked; image.compareChanged(); }
    else if (key === "escape") { image.selectedId = null; image.showState(); }
    else if (/^[1-9]$/.test(key)) image.selectByIndex(Number(key) - 1);
    else if (key === "v") setMode("video");
    else return;
  } else {
    if (ctrl) return;
    if (key === " ") video.togglePlay();
    else if (key === "arrowright") video.step(1);
    else if (key === "arrowleft") video.step(-1);
    else if (key === "b") video.trackBackward();
    else if (key === "n") video.newObject();
    else if (key === "delete" || key === "backspace") video.selectedId && video.removeObject(video.selectedId);
    else if (key === "i") setMode("image");
    else return;
  }
  e.preventDefault();
});

window.addEventListener("resize", () => { image.drawPromptLayer(); video.drawPromptLayer(); });

setMode(location.hash === "#video" ? "video" : "image");
loadModel();
