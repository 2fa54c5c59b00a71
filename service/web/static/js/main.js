// Entry point: the three modes (image, video file, camera), the tabs, the model banner, messages, the API key
// and keyboard shortcuts.
import * as api from "./api.js";
import { FileMode } from "./file/mode.js";
import { ImageMode } from "./image/mode.js";
import { MessageBar } from "./messages.js";
import { keyBelongsToControl, shortcutFor } from "./shortcuts.js";
import { VideoMode } from "./video/mode.js";
import { buildWorkspace } from "./workspace.js";
/** @import { Action, Mode } from "./shortcuts.js" */

/**
 * The element with this id, of this type (the page has them all: a missing one is a bug, found at load).
 * @template {HTMLElement} T @param {string} id @param {{ new (): T, prototype: T }} type @returns {T}
 */
function byId(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return el;
}
const $ = (/** @type {string} */ id) => byId(id, HTMLElement);
const input = (/** @type {string} */ id) => byId(id, HTMLInputElement);
const button = (/** @type {string} */ id) => byId(id, HTMLButtonElement);
const canvas = (/** @type {string} */ id) => byId(id, HTMLCanvasElement);

const messages = new MessageBar({
  box: $("message"), text: $("message-text"), retry: button("message-retry"), dismiss: button("message-dismiss"),
});

// ------------------------------------------------------------------ modes
buildWorkspace($("file-mode"), "file");
buildWorkspace($("video-mode"), "video");
const image = new ImageMode({
  stage: $("image-stage"), canvas: canvas("image-canvas"), overlay: canvas("image-overlay"),
  prompts: canvas("image-prompts"), file: input("image-file"), newObject: button("image-new-object"),
  undo: button("image-undo"), redo: button("image-redo"), clearAll: button("image-clear"),
  refine: input("image-refine"), refineNote: $("image-refine-note"),
  decoderNote: $("image-decoder-note"), compare: input("image-compare"),
  split: input("image-split"), splitLine: $("image-split-line"), exportPng: button("image-export-png"),
  exportCutout: button("image-export-cutout"), exportCoco: button("image-export-coco"), list: $("image-objects"),
  scores: $("image-scores"), timings: $("image-timings"), status: $("image-status"), busy: $("image-busy"),
}, messages.forModes);

const video = new VideoMode({
  stage: $("video-stage"), canvas: canvas("video-canvas"), overlay: canvas("video-overlay"),
  prompts: canvas("video-prompts"), video: byId("video-element", HTMLVideoElement),
  file: input("video-file"), camera: button("video-camera"), fps: input("video-fps"), refine: input("video-refine"),
  play: button("video-play"), step: button("video-step"), backward: button("video-backward"),
  newObject: button("video-new-object"), exportJson: button("video-export-json"),
  exportZip: button("video-export-zip"), timeline: canvas("video-timeline"), list: $("video-objects"),
  frameInfo: $("video-frame-info"), fpsInfo: $("video-fps-info"), stageTimings: $("video-timings"),
  status: $("video-status"), session: $("video-session"),
}, messages.forModes);

const videoFile = new FileMode({
  stage: $("file-stage"), canvas: canvas("file-canvas"), overlay: canvas("file-overlay"),
  prompts: canvas("file-prompts"), file: input("file-input"), camera: button("file-camera"),
  direction: byId("file-direction", HTMLSelectElement), track: button("file-track"),
  play: button("file-play"), newObject: button("file-new-object"), reset: button("file-reset"),
  exportCoco: button("file-export-coco"), exportZip: button("file-export-zip"), exportMp4: button("file-export-mp4"),
  progress: byId("file-progress", HTMLProgressElement), timeline: canvas("file-timeline"), list: $("file-objects"),
  frameInfo: $("file-frame-info"), status: $("file-status"), session: $("file-session"),
}, messages.forModes, { onCamera: () => { setMode("video"); video.openCamera(); } });

// For the browser tests and the console: the modes (their state, sessions and views).
Object.assign(window, { sam2refiner: { image, video, file: videoFile } });

// ------------------------------------------------------------------ tabs
/** @type {Mode} */
let mode = "image";
/** @param {Mode} next */
function setMode(next) {
  mode = next;
  for (const m of ["image", "video", "file"]) {
    $(`${m}-mode`).hidden = m !== next;
    $(`tab-${m}`).setAttribute("aria-selected", m === next ? "true" : "false");
  }
  ({ image, video, file: videoFile })[next].drawPromptLayer();  // drawn at the size it is shown at
}
$("tab-image").addEventListener("click", () => setMode("image"));
$("tab-video").addEventListener("click", () => setMode("video"));
$("tab-file").addEventListener("click", () => setMode("file"));

// ------------------------------------------------------------------ model banner
async function loadModel() {
  let model;
  try {
    model = await api.getModel();
  } catch (e) {
    $("model-banner").textContent = "model: unknown";
    messages.notify(e, loadModel);
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
const keyInput = input("api-key");
keyInput.value = api.apiKey();
keyInput.addEventListener("change", () => { api.setApiKey(keyInput.value.trim()); messages.clear(); loadModel(); });

// ------------------------------------------------------------------ paste and keyboard
document.addEventListener("paste", (e) => {
  const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
  if (file) {
    e.preventDefault();
    setMode("image");
    image.open(file);
  }
});

/** @type {Record<Action, (index: number) => unknown>} */
const ACTIONS = {
  undo: () => image.undo(), redo: () => image.redo(), toggleHidden: () => image.toggleHidden(),
  toggleRefine: () => image.toggleRefine(), toggleCompare: () => image.toggleCompare(),
  select: (index) => image.selectByIndex(index), selectNone: () => image.selectNone(),
  videoMode: () => setMode("video"), fileMode: () => setMode("file"),
  newObject: () => ({ image, video, file: videoFile })[mode].newObject(),
  removeSelected: () => ({ image, video, file: videoFile })[mode].removeSelected(),
  togglePlay: () => (mode === "file" ? videoFile : video).togglePlay(),
  stepForward: () => (mode === "file" ? videoFile : video).step(1), stepBack: () => (mode === "file" ? videoFile : video).step(-1),
  trackBackward: () => video.trackBackward(), imageMode: () => setMode("image"),
  track: () => videoFile.track(), stopTracking: () => videoFile.stopTracking(),
  firstFrame: () => videoFile.firstFrame(), lastFrame: () => videoFile.lastFrame(),
};

/** The focused element as keyBelongsToControl reads it. @param {EventTarget | null} target */
function focusedControl(target) {
  if (!(target instanceof HTMLElement) || target === document.body) return null;
  const control = target.closest("input, textarea, select, button, [contenteditable]") ?? target;
  return {
    tag: control.tagName.toLowerCase(), type: control instanceof HTMLInputElement ? control.type : undefined,
    editable: control instanceof HTMLElement && control.isContentEditable,
  };
}

document.addEventListener("keydown", (e) => {
  if (keyBelongsToControl(focusedControl(e.target), e.key)) return;
  const shortcut = shortcutFor(mode, e);
  if (!shortcut) return;
  ACTIONS[shortcut.action](shortcut.index ?? 0);
  e.preventDefault();
});

// A control used with the mouse gives the keyboard back (its space or arrows would otherwise keep acting on it);
// one reached with the keyboard keeps the focus (detail 0: activated by a key). A number typed in and committed
// (Enter, or leaving the field) gives it back too, and so does a choice made in a select (a focused select takes
// every key: the mode's single-key shortcuts would go to it).
document.addEventListener("click", (e) => {
  const active = document.activeElement;
  const typing = keyBelongsToControl(focusedControl(active), "a");  // a letter is only a text field's
  if (e.detail > 0 && (active instanceof HTMLButtonElement || active instanceof HTMLInputElement) && !typing) {
    active.blur();
  }
});
document.addEventListener("change", (e) => {
  const target = e.target;
  if ((target instanceof HTMLInputElement && target.type === "number") || target instanceof HTMLSelectElement) {
    target.blur();
  }
});

setMode(location.hash === "#video" ? "video" : location.hash === "#file" ? "file" : "image");
loadModel();
