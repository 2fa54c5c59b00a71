// File mode on screen: the shown frame's masks with their labels, the prompt layer, the timeline (tracked frames
// fill in as the propagation's lines arrive), the progress bar, the object list, the frame readout and which
// controls are enabled. Reads the state, never changes it.
import { FramesView, drawTimeline, timelineRows } from "../frames.js";
import { renderObjectList } from "../objects.js";
/** @import { TimelineCell } from "../frames.js" */
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

/** @param {FileState} state @returns {TimelineCell[]} one per frame */
export function timelineCells(state) {
  const prompted = new Set(state.promptedFrames());
  return Array.from({ length: state.frameCount }, (_, frame) => ({
    tracked: state.masks.has(frame),
    stale: state.isStale(frame),
    prompted: prompted.has(frame),
    rows: timelineRows(state, frame),
  }));
}

/** @param {FileState} state the readout under the stage */
export function frameText(state) {
  const t = state.timeOf(state.current);
  return `frame ${state.current} of ${state.frameCount} · ${t.toFixed(2)} s · ${state.trackedCount} tracked`;
}

/** @extends {FramesView<FileElements>} */
export class FileView extends FramesView {
  /**
   * Everything but the picture, after a change of state.
   * @param {FileState | null} state @param {Activity} activity @param {Box | null} draft
   */
  render(state, activity, draft) {
    if (state) {
      this.drawFrame(state, state.video.width, draft);
      this.drawTimeline(state);
      this.renderList(state);
      this.renderStats(state);
    }
    this.renderProgress(state, activity);
    this.updateControls(state, activity);
  }

  /** The timeline, and its readout for people and tests. @param {FileState} state */
  drawTimeline(state) {
    const canvas = this.el.timeline;
    const cells = timelineCells(state);
    drawTimeline(canvas, cells, state.current, state.objects.size);
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
