// Video mode on screen: the shown frame's masks with their labels, the prompt layer, the timeline, the object
// list, the frame / rate readouts and which controls are enabled. Reads the state, never changes it.
import { FramesView, drawTimeline, timelineRows } from "../frames.js";
import { renderObjectList, renderRows } from "../objects.js";
/** @import { Box } from "../geometry.js" */
/** @import { VideoState } from "./state.js" */
/** @import { VideoSource } from "./source.js" */

/**
 * The page's video-mode elements (main.js finds them).
 * @typedef {object} VideoElements
 * @property {HTMLElement} stage @property {HTMLCanvasElement} canvas @property {HTMLCanvasElement} overlay
 * @property {HTMLCanvasElement} prompts @property {HTMLVideoElement} video @property {HTMLInputElement} file
 * @property {HTMLButtonElement} camera @property {HTMLInputElement} fps @property {HTMLInputElement} refine
 * @property {HTMLButtonElement} play @property {HTMLButtonElement} step @property {HTMLButtonElement} backward
 * @property {HTMLButtonElement} newObject @property {HTMLButtonElement} exportJson
 * @property {HTMLButtonElement} exportZip @property {HTMLCanvasElement} timeline @property {HTMLElement} list
 * @property {HTMLElement} frameInfo @property {HTMLElement} fpsInfo @property {HTMLElement} stageTimings
 * @property {HTMLElement} status @property {HTMLElement} session
 */

/** What the controls depend on besides the state. @typedef {{ playing: boolean, busy: boolean, hasSession: boolean }} Activity */

/** Camera timelines show the last this many frames. */
export const CAMERA_TIMELINE_FRAMES = 300;

/**
 * Which frames the timeline shows: all of a file's, a camera's latest.
 * @param {VideoState} state @param {VideoSource} source @returns {{ first: number, count: number }}
 */
export function timelineSpan(state, source) {
  if (source.isFile) return { first: 0, count: source.frameCount };
  const count = Math.min(CAMERA_TIMELINE_FRAMES, state.live + 1);
  return { first: Math.max(0, state.live - count + 1), count };
}

/** @param {number} v */
const ms = (v) => `${v.toFixed(1)} ms`;

/**
 * A rate for people: frames a second from 1 up, the seconds between frames below (0.1 frame/s is not "0.0").
 * @param {number} fps @returns {string}
 */
export function rateText(fps) {
  if (!(fps > 0)) return "no frames yet";
  if (fps >= 1) return `${fps.toFixed(1)} frames/s`;
  const seconds = 1 / fps;
  return `${fps.toPrecision(2)} frames/s (one every ${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s)`;
}

/** @extends {FramesView<VideoElements>} */
export class VideoView extends FramesView {
  /**
   * Everything, after a change of state.
   * @param {VideoState} state @param {VideoSource | null} source @param {Activity} activity @param {Box | null} draft
   */
  render(state, source, activity, draft) {
    if (source) {
      this.drawFrame(state, source.width, draft);
      this.drawTimeline(state, source);
      this.renderList(state);
      this.renderStats(state, source);
    }
    this.updateControls(state, source, activity);
  }

  /** One cell per frame (lighter once tracked) with a row per object where it is visible; a line at the shown one. @param {VideoState} state @param {VideoSource} source */
  drawTimeline(state, source) {
    const { first, count } = timelineSpan(state, source);
    const cells = Array.from({ length: count }, (_, i) => ({
      tracked: state.frames.has(first + i), stale: false, prompted: false, rows: timelineRows(state, first + i),
    }));
    drawTimeline(this.el.timeline, cells, state.current - first, state.objects.size);
    this.el.timeline.setAttribute("aria-label",
      `timeline: ${state.frames.size} frames tracked, ${state.framesWithMasks()} with masks; frame ${state.current} shown`);
  }

  /** @param {VideoState} state */
  renderList(state) {
    renderObjectList(this.el.list, [...state.objects.values()].map((o) => ({
      id: o.id, name: o.name, color: o.color, selected: o.id === state.selectedId, hidden: o.hidden,
      detail: o.firstFrame === null ? "click on the frame to place it" : `from frame ${o.firstFrame}`,
    })), this.actions);
  }

  /** @param {VideoState} state @param {VideoSource} source */
  renderStats(state, source) {
    const total = source.isFile ? ` of ${source.frameCount}` : "";
    const info = this.el.frameInfo;
    info.textContent = `frame ${state.current}${total} · live ${state.live} · tracked ${state.frames.size}`;
    info.dataset.current = String(state.current);
    info.dataset.live = String(state.live);
    info.dataset.tracked = String(state.frames.size);
    let fps = rateText(state.fps);
    if (!source.isFile && state.presented) fps += ` · camera frames dropped ${Math.max(0, state.presented - state.sent)}`;
    this.el.fpsInfo.textContent = fps;
    renderRows(this.el.stageTimings, Object.entries(state.lastTimings).map(([k, v]) => [
      k.replaceAll("_", " "), typeof v === "number" ? ms(v) : String(v),
    ]));
  }

  /** @param {VideoState} state @param {VideoSource | null} source @param {Activity} activity */
  updateControls(state, source, { playing, busy, hasSession }) {
    const e = this.el, file = Boolean(source?.isFile);
    e.play.disabled = !source || (file && hasSession && state.live >= source.frameCount - 1) || busy;
    e.play.textContent = playing ? "Pause" : "Play";
    e.play.setAttribute("aria-label", playing ? "pause tracking (space)" : "play and track (space)");
    e.step.disabled = !file || playing || busy;
    e.backward.disabled = !file || !hasSession || playing || busy;
    e.newObject.disabled = !source;
    e.exportJson.disabled = e.exportZip.disabled = !state.frames.size;
    e.stage.setAttribute("aria-busy", busy || playing ? "true" : "false");
  }
}
