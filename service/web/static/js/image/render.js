// Image mode on screen: the overlay (with the compare swipe), the prompt layer, the object list, scores and
// timings, and which controls are enabled. Reads the state, never changes it (the list's actions do, through
// the mode).
import { renderObjectList, renderRows } from "../objects.js";
import { EMPTY } from "./state.js";
/** @import { ObjectListActions } from "../objects.js" */
/** @import { MaskLayer } from "../paint.js" */
/** @import { Stage } from "../stage.js" */
/** @import { Box } from "../geometry.js" */
/** @import { ImageState, MaskState } from "./state.js" */

/**
 * The page's image-mode elements (main.js finds them).
 * @typedef {object} ImageElements
 * @property {HTMLElement} stage @property {HTMLCanvasElement} canvas @property {HTMLCanvasElement} overlay
 * @property {HTMLCanvasElement} prompts @property {HTMLInputElement} file
 * @property {HTMLButtonElement} newObject @property {HTMLButtonElement} undo @property {HTMLButtonElement} redo
 * @property {HTMLButtonElement} clearAll @property {HTMLInputElement} refine @property {HTMLElement} refineNote
 * @property {HTMLElement} decoderNote  where clicks are decoded (this browser or the server, and why)
 * @property {HTMLInputElement} compare @property {HTMLInputElement} split @property {HTMLElement} splitLine
 * @property {HTMLButtonElement} exportPng @property {HTMLButtonElement} exportCutout
 * @property {HTMLButtonElement} exportCoco @property {HTMLElement} list @property {HTMLElement} scores
 * @property {HTMLElement} timings @property {HTMLElement} status @property {HTMLElement} busy
 */

/**
 * The masks to draw, in order: every visible object's mask; in the compare view the selected object's SAM 2
 * mask left of the swipe and its refined mask right of it.
 * @param {ImageState} state @param {{ compare: boolean, splitX: number }} view @returns {MaskLayer[]}
 */
export function maskLayers(state, { compare, splitX }) {
  /** @type {MaskLayer[]} */
  const layers = [];
  for (const obj of state.objects) {
    const shown = state.shown(obj);
    if (obj.hidden || !shown.mask) continue;
    if (compare && obj.id === state.selectedId && shown.sam2?.mask && shown.refined) {
      layers.push({ mask: shown.sam2.mask, color: obj.color, toX: splitX });
      layers.push({ mask: shown.mask, color: obj.color, fromX: splitX });
    } else {
      layers.push({ mask: shown.mask, color: obj.color });
    }
  }
  return layers;
}

/**
 * The scores line for the selected object ("" without a mask).
 * @param {ImageState} state @param {boolean} compare
 */
export function scoreText(state, compare) {
  const obj = state.selected;
  const shown = obj && state.shown(obj);
  if (!obj || !shown?.mask) return "";
  const kind = obj.preview ? "SAM 2 (refined mask on its way)" : shown.refined ? "refined" : "SAM 2";
  let text = `${kind}: score ${(shown.score ?? 0).toFixed(3)}`;
  if (shown.refined && shown.sam2) text += ` · SAM 2: ${(shown.sam2.score ?? 0).toFixed(3)}`;
  if (compare && shown.refined) text += " · compare: SAM 2 left of the line, refined right";
  return text;
}

/** @param {MaskState} shown @returns {[string, string][]} */
export function timingRows(shown) {
  const t = shown.timings || {};
  const ms = (/** @type {unknown} */ v) => `${Number(v ?? 0).toFixed(1)} ms`;
  return [
    ["encode", ms(t.encode)], ["decoder", ms(t.decoder)], ["refine", ms(t.refine)],
    ["cache hit", t.cache_hit ? "yes" : "no"], ["server total", ms(t.total)],
    ["round trip", ms(shown.roundTripMs)], ["streamed", shown.stream ? "yes" : "no"],
    ["decoded", shown.local || shown.sam2?.local ? "SAM 2 in this browser" : "on the server"],
  ];
}

export class ImageView {
  /** @param {ImageElements} el @param {Stage} stage @param {ObjectListActions} actions */
  constructor(el, stage, actions) {
    this.el = el;
    this.stage = stage;
    this.actions = actions;
  }

  /** Everything, after a change of state. @param {ImageState} state @param {{ draft: Box | null, pending: number }} ui */
  render(state, ui) {
    this.drawOverlay(state);
    this.drawPromptLayer(state, ui.draft);
    this.renderList(state);
    this.renderScores(state);
    this.updateControls(state, ui.pending);
  }

  /** @param {ImageState} state */
  drawOverlay(state) {
    if (!state.image) return;
    const compare = this.el.compare.checked;
    const splitX = Math.round((Number(this.el.split.value) / 100) * state.image.width);
    this.stage.drawMasks(maskLayers(state, { compare, splitX }));
    this.el.splitLine.hidden = !compare;
    this.el.splitLine.style.left = `${this.el.split.value}%`;
  }

  /** The selected object's prompts (those of its request in flight, if any) and the box being dragged. @param {ImageState} state @param {Box | null} draft */
  drawPromptLayer(state, draft) {
    if (!state.image) return;
    const obj = state.selected;
    const shown = obj && state.inFlight?.objId === obj.id ? state.inFlight.prompts : obj ? state.current(obj) : EMPTY;
    this.stage.drawPrompts({ ...shown, draft });
  }

  /** @param {ImageState} state */
  renderList(state) {
    renderObjectList(this.el.list, state.objects.map((o) => {
      const current = state.current(o);
      return {
        id: o.id, name: o.name, color: o.color, hidden: o.hidden, selected: o.id === state.selectedId,
        detail: current.mask ? `score ${(current.score ?? 0).toFixed(3)}` : "no mask yet",
      };
    }), this.actions);
  }

  /** @param {ImageState} state */
  renderScores(state) {
    const obj = state.selected;
    this.el.scores.textContent = scoreText(state, this.el.compare.checked);
    if (!obj || !state.shown(obj).mask) this.el.timings.textContent = "";
    else renderRows(this.el.timings, timingRows(state.shown(obj)));
  }

  /** @param {ImageState} state @param {number} pending requests in flight */
  updateControls(state, pending) {
    const el = this.el, obj = state.selected;
    el.newObject.disabled = !state.image;
    el.undo.disabled = !state.canUndo;
    el.redo.disabled = !state.canRedo;
    el.clearAll.disabled = !state.objects.length;
    el.exportPng.disabled = el.exportCutout.disabled = !(obj && state.current(obj).mask);
    el.exportCoco.disabled = !state.withMasks().length;
    el.stage.setAttribute("aria-busy", pending ? "true" : "false");
    el.busy.hidden = !pending;
  }
}
