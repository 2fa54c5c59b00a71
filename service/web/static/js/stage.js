// One mode's picture: the image (or frame) canvas, the mask overlay and the prompt layer stacked in one box.
// The picture and the overlay have the image's own pixels; the prompt layer is drawn at the screen's
// resolution (crisp marks over small, enlarged frames), in image coordinates. Pointer events on the prompt
// layer become clicks and drags in image pixels, through geometry.js.
// The box (the canvases' parent, .layers) is placed by layout(): letterboxed in the stage by fitRect, again
// whenever the stage's size or the screen's pixel ratio changes. The three canvases fill it exactly (CSS), so
// one rect maps image pixels to the screen for drawing, hit-testing and requests alike.
import { cssColor } from "./colors.js";
import { boxFromCorners, fitRect, imagePoint, isDrag, layerTransform } from "./geometry.js";
import { paintMasks } from "./paint.js";
/** @import { Box, Point, Size } from "./geometry.js" */
/** @import { Color } from "./colors.js" */
/** @import { MaskLayer } from "./paint.js" */

/** @typedef {{ x: number, y: number, text: string, color: Color }} Tag  a label drawn at (x, y), image pixels */

/**
 * What the prompt layer shows: points (green positive, red negative), the box, the box being dragged, labels.
 * @typedef {{ points?: Point[], labels?: number[], box?: Box | null, draft?: Box | null, tags?: Tag[] }} Marks
 */

/**
 * A prompt a gesture gives: a click (label 1 positive, 0 negative: right or shift click) or a released drag.
 * @typedef {{ point: Point, label: 0 | 1 } | { box: Box }} PromptChange
 */

/**
 * What the stage reports of pointer gestures.
 * @typedef {object} PromptInput
 * @property {(change: PromptChange) => void} onPrompt
 * @property {(box: Box | null) => void} onDraft  a drag in progress (null: ended or cancelled)
 */

/** @param {HTMLCanvasElement} canvas */
function context2d(canvas) {
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("this browser gives no 2D canvas");
  return ctx;
}

export class Stage {
  /**
   * @param {{ stage: HTMLElement, picture: HTMLCanvasElement, overlay: HTMLCanvasElement,
   *           prompts: HTMLCanvasElement }} el
   * @param {{ onLayout?: () => void }} [hooks]
   */
  constructor(el, { onLayout = () => {} } = {}) {
    this.el = el;
    /** @type {Size | null} the image's size in pixels; null until one is shown */
    this.size = null;
    /** called after the picture moved or changed size on screen (the prompt layer is redrawn at its new size) */
    this.onLayout = onLayout;
    const layers = el.picture.parentElement;
    if (!layers) throw new Error("the picture canvas has no parent box");
    this.layers = layers;
    new ResizeObserver(() => this.layout()).observe(el.stage);
    this.watchPixelRatio();
  }

  /** Re-lays the picture out when the device pixel ratio changes (browser zoom, another screen). */
  watchPixelRatio() {
    const query = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    query.addEventListener("change", () => { this.layout(); this.watchPixelRatio(); }, { once: true });
  }

  /** Letterboxes the picture in the stage (its box inside the border) and redraws what depends on its size. */
  layout() {
    if (!this.size) return;
    const { clientWidth: width, clientHeight: height } = this.el.stage;
    if (!width || !height) return;  // a hidden mode: laid out when it is shown (the observer fires then)
    const rect = fitRect({ width, height }, this.size, window.devicePixelRatio || 1);
    const style = this.layers.style;
    style.left = `${rect.left}px`;
    style.top = `${rect.top}px`;
    style.width = `${rect.width}px`;
    style.height = `${rect.height}px`;
    this.layers.classList.toggle("enlarged", rect.width > this.size.width);
    this.onLayout();
  }

  /** Sizes the picture and the overlay to the image's pixels and shows the stage. @param {Size} size */
  setImageSize({ width, height }) {
    for (const c of [this.el.picture, this.el.overlay]) {
      c.width = width;
      c.height = height;
    }
    this.size = { width, height };
    this.el.prompts.dataset.imageWidth = String(width);  // for the browser tests and the console
    this.el.prompts.dataset.imageHeight = String(height);
    this.el.stage.classList.add("loaded");
    this.layout();
  }

  /** The picture canvas' 2D context (to draw the image or a frame into). */
  get picture() {
    return context2d(this.el.picture);
  }

  /** Replaces the overlay with these masks, in order. @param {MaskLayer[]} layers */
  drawMasks(layers) {
    const { width: w, height: h } = this.el.overlay;
    const ctx = context2d(this.el.overlay);
    const image = ctx.createImageData(w, h);
    paintMasks(image.data, w, h, layers);
    ctx.putImageData(image, 0, 0);
  }

  /** Redraws the prompt layer at the size it is shown at. @param {Marks} marks */
  drawPrompts({ points = [], labels = [], box = null, draft = null, tags = [] }) {
    const canvas = this.el.prompts;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = context2d(canvas);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!this.size) return;
    const { sx, sy, cssPx: px } = layerTransform({ width, height }, this.size, dpr);
    ctx.setTransform(sx, 0, 0, sy, 0, 0);
    ctx.lineWidth = 2 * px;
    for (const b of [box, draft]) {
      if (!b) continue;
      ctx.strokeStyle = b === draft ? "rgba(255,255,255,0.9)" : "rgba(255,215,0,0.95)";
      ctx.setLineDash(b === draft ? [6 * px, 4 * px] : []);
      ctx.strokeRect(b[0], b[1], b[2] - b[0], b[3] - b[1]);
    }
    ctx.setLineDash([]);
    points.forEach(([x, y], i) => {
      ctx.beginPath();
      ctx.arc(x, y, 5 * px, 0, 2 * Math.PI);
      ctx.fillStyle = labels[i] ? "#2ecc40" : "#ff4136";
      ctx.fill();
      ctx.strokeStyle = "white";
      ctx.stroke();
    });
    ctx.font = `bold ${13 * px}px sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const { x, y, text, color } of tags) {
      const w = ctx.measureText(text).width + 10 * px;
      ctx.fillStyle = "rgba(0,0,0,0.75)";
      ctx.fillRect(x - w / 2, y - 10 * px, w, 20 * px);
      ctx.fillStyle = cssColor(color);
      ctx.fillText(text, x, y);
    }
  }

  /** The image pixel under a pointer event. @param {{ clientX: number, clientY: number }} event @returns {Point} */
  toImage(event) {
    const canvas = this.el.prompts;
    const size = this.size ?? { width: canvas.width, height: canvas.height };
    return imagePoint(this.layers.getBoundingClientRect(), size, event.clientX, event.clientY);
  }

  /** Turns pointer events on the prompt layer into clicks (positive / negative) and drags (boxes). @param {PromptInput} input */
  attachInput({ onPrompt, onDraft }) {
    const canvas = this.el.prompts;
    /** @type {{ event: PointerEvent, at: Point, dragging: boolean } | null} */
    let start = null;
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 && e.button !== 2) return;
      canvas.setPointerCapture(e.pointerId);
      start = { event: e, at: this.toImage(e), dragging: false };
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!start) return;
      if (isDrag(start.event, e)) start.dragging = true;
      if (start.dragging) onDraft(boxFromCorners(start.at, this.toImage(e)));
    });
    canvas.addEventListener("pointerup", (e) => {
      if (!start) return;
      const s = start;
      start = null;
      if (s.dragging) {
        onDraft(null);
        onPrompt({ box: boxFromCorners(s.at, this.toImage(e)) });
      } else {
        onPrompt({ point: s.at, label: s.event.button === 2 || s.event.shiftKey ? 0 : 1 });
      }
    });
    canvas.addEventListener("pointercancel", () => { start = null; onDraft(null); });
  }
}

/**
 * What a mode does with its stage: draws the prompt layer, takes a prompt, keeps the box being dragged.
 * @typedef {{ prompt: (change: PromptChange) => unknown, drawPromptLayer: () => void, draft: Box | null }} StageOwner
 */

/**
 * A mode's stage on its page elements, set up as every mode has it: the prompt layer redrawn when the picture
 * moves, gestures to the mode's prompt(), the box being dragged drawn as it goes.
 * @param {{ stage: HTMLElement, canvas: HTMLCanvasElement, overlay: HTMLCanvasElement, prompts: HTMLCanvasElement }} el
 * @param {StageOwner} mode
 */
export function modeStage(el, mode) {
  const stage = new Stage({ stage: el.stage, picture: el.canvas, overlay: el.overlay, prompts: el.prompts },
    { onLayout: () => mode.drawPromptLayer() });
  stage.attachInput({
    onPrompt: (change) => mode.prompt(change),
    onDraft: (box) => { mode.draft = box; mode.drawPromptLayer(); },
  });
  return stage;
}

/**
 * Files for a mode to open: the one chosen in its file input, or the first dropped on its stage that `accepts`.
 * @param {{ stage: HTMLElement, file: HTMLInputElement }} el @param {(f: File) => boolean} accepts
 * @param {(f: File) => unknown} open
 */
export function acceptFiles(el, accepts, open) {
  el.file.addEventListener("change", () => el.file.files?.[0] && open(el.file.files[0]));
  el.stage.addEventListener("dragover", (e) => { e.preventDefault(); el.stage.classList.add("dropping"); });
  el.stage.addEventListener("dragleave", () => el.stage.classList.remove("dropping"));
  el.stage.addEventListener("drop", (e) => {
    e.preventDefault();
    el.stage.classList.remove("dropping");
    const file = [...(e.dataTransfer?.files ?? [])].find(accepts);
    if (file) open(file);
  });
}
