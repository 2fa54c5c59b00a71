// A video document's frames on screen, for both video modes (file and camera): the shown frame's masks with a
// label at each one's centroid, the prompt layer, and the timeline (a cell per frame, a row per object). Reads the
// state, never changes it.
import { cssColor } from "./colors.js";
import { centroid } from "./geometry.js";
/** @import { Color } from "./colors.js" */
/** @import { Box } from "./geometry.js" */
/** @import { FrameClickSet, ObjectListActions, TableObject } from "./objects.js" */
/** @import { MaskLayer } from "./paint.js" */
/** @import { Mask } from "./rle.js" */
/** @import { Stage, Tag } from "./stage.js" */

/**
 * What both video modes' states answer about their frames.
 * @typedef {object} FramesState
 * @property {Map<number, TableObject>} objects @property {number | null} selectedId @property {number} current
 * @property {(frame: number) => number[]} shownAt  the objects whose mask is visible on a frame
 * @property {(frame: number, id: number) => Mask | null} maskAt
 * @property {(frame: number, id: number | null) => FrameClickSet | undefined} clickSet
 */

/**
 * One timeline cell: whether the frame has masks, whether they predate the last prompt, whether it holds prompts,
 * and the colours of the object rows where an object is visible.
 * @typedef {{ tracked: boolean, stale: boolean, prompted: boolean, rows: { row: number, color: Color }[] }} TimelineCell
 */

/**
 * The masks of the shown frame, but hidden objects', and a label at each one's centroid.
 * @param {FramesState} state @param {number} width the frame's width @returns {{ layers: MaskLayer[], tags: Tag[] }}
 */
export function frameLayers(state, width) {
  /** @type {MaskLayer[]} */
  const layers = [];
  /** @type {Tag[]} */
  const tags = [];
  for (const id of state.shownAt(state.current)) {
    const obj = state.objects.get(id);
    const mask = obj && !obj.hidden ? state.maskAt(state.current, id) : null;
    if (!obj || !mask) continue;
    layers.push({ mask, color: obj.color });
    const c = centroid(mask, width);
    if (c) tags.push({ ...c, text: `${id}`, color: obj.color });
  }
  return { layers, tags };
}

/**
 * A frame's timeline rows: one per object visible on it, in the objects' order, in its colour.
 * @param {FramesState} state @param {number} frame @returns {TimelineCell["rows"]}
 */
export function timelineRows(state, frame) {
  const ids = [...state.objects.keys()];
  return state.shownAt(frame).flatMap((id) => {
    const obj = state.objects.get(id);
    return obj ? [{ row: ids.indexOf(id), color: obj.color }] : [];
  });
}

/**
 * One cell per frame (dark: no masks yet, dimmed: masks from before the last prompt), a row per object where it
 * is visible, a mark over prompted frames, a line at the shown one.
 * @param {HTMLCanvasElement} canvas @param {TimelineCell[]} cells @param {number} shown the shown cell's index
 * @param {number} objects how many rows
 */
export function drawTimeline(canvas, cells, shown, objects) {
  const width = canvas.clientWidth || 600;
  canvas.width = width;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, width, canvas.height);
  if (!cells.length) return;
  const cell = width / cells.length, cellWidth = Math.max(1, cell - (cell > 3 ? 1 : 0));
  const rowH = Math.max(3, (canvas.height - 8) / Math.max(1, objects));
  cells.forEach(({ tracked, stale, prompted, rows }, i) => {
    ctx.fillStyle = tracked ? "#444" : "#222";
    ctx.fillRect(i * cell, 0, cellWidth, canvas.height);
    ctx.globalAlpha = stale ? 0.4 : 1;
    for (const { row, color } of rows) {
      ctx.fillStyle = cssColor(color);
      ctx.fillRect(i * cell, 4 + row * rowH, cellWidth, rowH - 1);
    }
    ctx.globalAlpha = 1;
    if (prompted) {
      ctx.fillStyle = "#ffd700";
      ctx.fillRect(i * cell, 0, cellWidth, 3);
    }
  });
  ctx.fillStyle = "white";
  ctx.fillRect((shown + 0.5) * cell - 1, 0, 2, canvas.height);
}

/**
 * What both video modes' views share: the shown frame's masks and labels, and the prompt layer over them.
 * @template {{ timeline: HTMLCanvasElement }} E  the mode's elements
 */
export class FramesView {
  /** @param {E} el @param {Stage} stage @param {ObjectListActions} actions */
  constructor(el, stage, actions) {
    this.el = el;
    this.stage = stage;
    this.actions = actions;
    /** @type {Tag[]} the shown frame's labels, redrawn with the prompt layer */
    this.tags = [];
  }

  /** The shown frame's masks, labels and prompts. @param {FramesState} state @param {number} width @param {Box | null} draft */
  drawFrame(state, width, draft) {
    const { layers, tags } = frameLayers(state, width);
    this.stage.drawMasks(layers);
    this.tags = tags;
    this.drawPromptLayer(state, draft);
  }

  /** The selected object's click set on the shown frame, the labels, the box being dragged. @param {FramesState} state @param {Box | null} draft */
  drawPromptLayer(state, draft) {
    if (!this.stage.size) return;
    const set = state.clickSet(state.current, state.selectedId);
    this.stage.drawPrompts({ ...(set || {}), draft, tags: this.tags });
  }
}
