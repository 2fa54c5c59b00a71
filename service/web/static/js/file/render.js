// File mode on screen: the shown frame's masks with their labels, the prompt layer, the timeline (tracked frames
// fill in as the propagation's lines arrive), the progress bar, the object list, the frame readout and which
// controls are enabled. Reads the state, never changes it.
import { cssColor } from "../colors.js";
import { centroid } from "../geometry.js";
import { renderObjectList } from "../objects.js";
/** @import { Color } from "../colors.js" */
/** @import { ObjectListActions } from "../objects.js" */
/** @import { MaskLayer } from "../paint.js" */
/** @import { Stage, Tag } from "../stage.js" */
/** @import { Box } from "../geometry.js" */
/** @import { FileState } from "./state.js" */

/**
 * The page's file-mode elements (main.js finds them).
 * @typedef {object} FileElements
 * @property {HTMLElement} stage @property {HTMLCanvasElement} canvas @property {HTMLCanvasElement} overlay
 * @property {HTMLCanvasElement} prompts @property {HTMLInputElement} file @property {HTMLButtonElement} camera
 * @property {HTMLSelectElement} direction @property {HTMLButtonElement} track
 * @property {HTMLButtonElement} play @property {HTMLButtonElement} newObject @property {HTMLButtonElement} reset
 * @property {HTMLButtonElement} exportCoco @property {HTMLButtonElement} exportZip @property {HTMLButtonElement} exportMp4
 * @property {HTMLProgressElement} progress @property {HTMLCanvasElement} timeline @property {HTMLElement} list
 * @property {HTMLElement} frameInfo @property {HTMLElement} status @property {HTMLElement} session
 */

/**
 * What the controls depend on besides the state.
 * @typedef {{ tracking: boolean, playing: boolean, busy: boolean, upload: number | null }} Activity
 * upload: the running upload's fraction (null: none)
 */

/**
 * The masks of the shown frame and a label at each one's centroid.
 * @param {FileState} state @returns {{ layers: MaskLayer[], tags: Tag[] }}
 */
export function frameLayers(state) {
  /** @type {MaskLayer[]} */
  const layers = [];
  /** @type {Tag[]} */
  const tags = [];
  for (const o of state.objectsAt(state.current)) {
    const obj = state.objects.get(o.object_id);
    const mask = obj && !obj.hidden && o.visible ? state.maskAt(state.current, o.object_id) : null;
    if (!obj || !mask) continue;
    layers.push({ mask, color: obj.color });
    const c = centroid(mask, state.video.width);
    if (c) tags.push({ ...c, text: `${o.object_id}`, color: obj.color });
  }
  return { layers, tags };
}

/**
 * One timeline cell: whether the frame has masks, whether they predate the last prompt, whether it holds prompts,
 * and the colours of the object rows where an object is visible.
 * @typedef {{ tracked: boolean, stale: boolean, prompted: boolean, rows: { row: number, color: Color }[] }} TimelineCell
 */

/** @param {FileState} state @returns {TimelineCell[]} one per frame */
export function timelineCells(state) {
  const ids = [...state.objects.keys()];
  const prompted = new Set(state.promptedFrames());
  return Array.from({ length: state.frameCount }, (_, frame) => ({
    tracked: state.masks.has(frame),
    stale: state.isStale(frame),
    prompted: prompted.has(frame),
    rows: state.objectsAt(frame).flatMap((o) => {
      const obj = state.objects.get(o.object_id);
      return obj && o.visible ? [{ row: ids.indexOf(o.object_id), color: obj.color }] : [];
    }),
  }));
}

/** @param {FileState} state the readout under the stage */
export function frameText(state) {
  const t = state.timeOf(state.current);
  return `frame ${state.current} of ${state.frameCount} · ${t.toFixed(2)} s · ${state.trackedCount} tracked`;
}

export class FileView {
  /** @param {FileElements} el @param {Stage} stage @param {ObjectListActions} actions */
  constructor(el, stage, actions) {
    this.el = el;
    this.stage = stage;
    this.actions = actions;
    /** @type {Tag[]} the shown frame's labels, redrawn with the prompt layer */
    this.tags = [];
  }

  /**
   * Everything but the picture, after a change of state.
   * @param {FileState | null} state @param {Activity} activity @param {Box | null} draft
   */
  render(state, activity, draft) {
    if (state) {
      const { layers, tags } = frameLayers(state);
      this.stage.drawMasks(layers);
      this.tags = tags;
      this.drawPromptLayer(state, draft);
      this.drawTimeline(state);
      this.renderList(state);
      this.renderStats(state);
    }
    this.renderProgress(state, activity);
    this.updateControls(state, activity);
  }

  /** The selected object's click set on the shown frame, the labels, the box being dragged. @param {FileState} state @param {Box | null} draft */
  drawPromptLayer(state, draft) {
    if (!this.stage.size) return;
    const set = state.clickSet(state.current, state.selectedId);
    this.stage.drawPrompts({ ...(set || {}), draft, tags: this.tags });
  }

  /**
   * One cell per frame (dark: no masks yet, dimmed: masks from before the last prompt), a row per object where it
   * is visible, a mark over prompted frames, a line at the shown one.
   * @param {FileState} state
   */
  drawTimeline(state) {
    const canvas = this.el.timeline;
    const width = canvas.clientWidth || 600;
    canvas.width = width;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.clearRect(0, 0, width, canvas.height);
    const cells = timelineCells(state);
    const cell = width / cells.length, cellWidth = Math.max(1, cell - (cell > 3 ? 1 : 0));
    const rowH = Math.max(3, (canvas.height - 8) / Math.max(1, state.objects.size));
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
    ctx.fillRect((state.current + 0.5) * cell - 1, 0, 2, canvas.height);
    const stale = cells.filter((c) => c.stale).length;
    canvas.setAttribute("aria-label", `timeline: ${state.trackedCount} of ${state.frameCount} frames tracked` +
      (stale ? `, ${stale} from before the last prompt` : "") + `; frame ${state.current} shown`);
    canvas.dataset.tracked = String(state.trackedCount);
    canvas.dataset.stale = String(stale);
  }

  /** @param {FileState} state */
  renderList(state) {
    renderObjectList(this.el.list, [...state.objects.values()].map((o) => {
      const frames = [...state.clickSets.values()].filter((s) => s.object_id === o.id).map((s) => s.frame);
      return {
        id: o.id, name: o.name, color: o.color, selected: o.id === state.selectedId, hidden: o.hidden,
        detail: frames.length ? `prompted on frame ${[...new Set(frames)].sort((a, b) => a - b).join(", ")}`
          : "click on any frame to place it",
      };
    }), this.actions);
  }

  /** @param {FileState} state */
  renderStats(state) {
    const info = this.el.frameInfo;
    info.textContent = frameText(state);
    info.dataset.current = String(state.current);
    info.dataset.tracked = String(state.trackedCount);
  }

  /** The upload's progress, then the propagation's. @param {FileState | null} state @param {Activity} activity */
  renderProgress(state, { upload }) {
    const bar = this.el.progress;
    const progress = state?.progress;
    bar.hidden = upload === null && !progress;
    if (upload !== null) {
      bar.max = 1;
      bar.value = upload;
      bar.title = `uploading: ${Math.round(upload * 100)} %`;
    } else if (progress) {
      bar.max = Math.max(1, progress.total);
      bar.value = progress.done;
      bar.title = `tracking: ${progress.done} of ${progress.total} frames`;
    }
    bar.dataset.done = String(progress?.done ?? "");
    bar.dataset.total = String(progress?.total ?? "");
  }

  /** @param {FileState | null} state @param {Activity} activity */
  updateControls(state, { tracking, playing, busy, upload }) {
    const e = this.el, open = Boolean(state), idle = open && !tracking && !busy;
    e.track.disabled = !open || (!tracking && (busy || playing || !state?.clickSets.size));
    e.track.textContent = tracking ? "Stop tracking" : "Track";
    e.play.disabled = !open || tracking || busy;
    e.play.textContent = playing ? "Pause" : "Play";
    e.newObject.disabled = !open;
    e.reset.disabled = !idle || playing || !state?.clickSets.size;
    e.direction.disabled = tracking;
    e.exportCoco.disabled = e.exportZip.disabled = e.exportMp4.disabled = !idle || !state?.trackedCount;
    e.file.disabled = upload !== null;
    e.stage.setAttribute("aria-busy", busy || tracking || upload !== null ? "true" : "false");
  }
}
