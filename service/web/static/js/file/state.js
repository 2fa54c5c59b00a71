// File mode's document: the uploaded video as the server decoded it (frame count, size, per-frame timestamps),
// the objects, the click sets given on each frame, every frame's masks as the server answered them (prompt answers
// and propagation lines), which frame is shown, and what a Track would start from. Plain data and methods that
// only change it: no DOM, no network.
import { clamp } from "../geometry.js";
import { ObjectTable, clickKey } from "../objects.js";
import { countsFromString, decodeRle } from "../rle.js";
/** @import { Color } from "../colors.js" */
/** @import { Box, Point } from "../geometry.js" */
/** @import { Mask, Rle } from "../rle.js" */
/** @import { TableObject } from "../objects.js" */

/**
 * The server's description of an uploaded video (POST /videos, GET /videos/{id}).
 * @typedef {object} VideoInfo
 * @property {string} video_id @property {number} frames @property {number} width @property {number} height
 * @property {number} fps  the average frame rate @property {number} duration_s
 * @property {number[]} timestamps  seconds, one per source frame
 */

/** One object's mask on one frame, as the server answers it. @typedef {{ object_id: number, rle: Rle, score: number, visible: boolean }} FrameMask */

/** @typedef {{ id: number, name: string, color: Color, hidden: boolean }} FileObject */

/**
 * The prompts one object got on one frame; each click sends the whole set (clear_old_points), as SAM 2's demo.
 * @typedef {{ frame: number, object_id: number, points: Point[], labels: number[], box: Box | null }} ClickSet
 */

/** @typedef {"both" | "forward" | "backward"} Direction */

/** Whether an RLE mask has any pixel set (more than the one run of zeros). @param {Rle} rle */
export function hasPixels(rle) {
  const runs = typeof rle.counts === "string" ? countsFromString(rle.counts) : rle.counts;
  return runs.slice(1).some((n) => n > 0);
}

/**
 * The document as plain data for the browser's storage (persist.js): no masks (the server keeps them; a reload
 * reads them back per frame).
 * @typedef {{ video: VideoInfo, name: string, objects: FileObject[], selectedId: number | null, clickSets: ClickSet[],
 *             pending: number[], current: number }} FileDraft
 */

/** @extends {ObjectTable<FileObject, ClickSet>} */
export class FileState extends ObjectTable {
  /** @param {VideoInfo} video @param {string} name the file's name */
  constructor(video, name) {
    super();
    this.video = video;
    this.name = name;
    /** @type {Map<number, Map<number, FrameMask>>} frame -> object id -> its mask */
    this.masks = new Map();
    /** @type {Map<number, number>} frame -> the edit its masks reflect (see `edits`) */
    this.maskEdit = new Map();
    this.edits = 0;           // prompts answered (and resets) so far: masks computed before the last are stale
    this.current = 0;         // the frame shown
    /** @type {Set<number>} frames prompted since the last finished Track: the next one starts at the earliest */
    this.pending = new Set();
    /** @type {{ done: number, total: number } | null} the running propagation's progress, in distinct frames */
    this.progress = null;
    /** @type {Set<number>} the frames the running propagation gave so far */
    this.lineFrames = new Set();
    /** @type {WeakMap<FrameMask, Mask>} masks decoded once, on first draw */
    this.decoded = new WeakMap();
  }

  /** @returns {FileDraft} */
  toDraft() {
    return {
      video: this.video, name: this.name, objects: [...this.objects.values()], selectedId: this.selectedId,
      clickSets: [...this.clickSets.values()], pending: [...this.pending], current: this.current,
    };
  }

  /**
   * The document a draft describes (null: not one), its masks still to be read from the server.
   * @param {any} draft @returns {FileState | null}
   */
  static fromDraft(draft) {
    if (!draft || typeof draft.video?.video_id !== "string" || !Array.isArray(draft.clickSets)) return null;
    const state = new FileState(draft.video, String(draft.name ?? "video"));
    for (const o of draft.objects ?? []) state.objects.set(o.id, o);
    for (const set of draft.clickSets) state.clickSets.set(clickKey(set.frame, set.object_id), set);
    state.selectedId = state.objects.has(draft.selectedId) ? draft.selectedId : null;
    state.pending = new Set(draft.pending ?? []);
    state.show(draft.current ?? 0);
    return state;
  }

  get frameCount() {
    return this.video.frames;
  }

  /** @param {number} frame the frame shown, clamped to the video */
  show(frame) {
    this.current = clamp(Math.round(frame), 0, this.frameCount - 1);
    return this.current;
  }

  // ------------------------------------------------------------------ objects
  /** @param {TableObject} base @returns {FileObject} */
  blankObject(base) {
    return base;
  }

  /** @param {number} frame @param {number} id @returns {ClickSet} */
  blankSet(frame, id) {
    return { frame, object_id: id, points: [], labels: [], box: null };
  }

  /** Whether the server has heard of the object (it got a prompt). @param {number} id */
  isPlaced(id) {
    return [...this.clickSets.values()].some((set) => set.object_id === id);
  }

  /** The object and all it had: masks, click sets, selection. @param {number} id */
  removeObject(id) {
    super.removeObject(id);
    for (const frame of this.masks.values()) frame.delete(id);
  }

  /** Every prompt and mask gone (the server's reset); the objects stay, unplaced. */
  clearPrompts() {
    this.clickSets.clear();
    this.masks.clear();
    this.maskEdit.clear();
    this.pending.clear();
    this.edits++;
  }

  // ------------------------------------------------------------------ prompts
  /** Frames that hold a click set, in order. */
  promptedFrames() {
    return [...new Set([...this.clickSets.values()].map((s) => s.frame))].sort((a, b) => a - b);
  }

  /**
   * Puts an object's click set on a frame back as it was (a prompt the server refused does not count).
   * @param {number} frame @param {number} id @param {ClickSet | undefined} set undefined: it had none
   */
  restoreClickSet(frame, id, set) {
    if (set) this.clickSets.set(clickKey(frame, id), set);
    else this.clickSets.delete(clickKey(frame, id));
  }

  /**
   * A prompt's answer: every object's mask on its frame, now the newest edit; Track will start there.
   * @param {number} frame @param {FrameMask[]} objects
   */
  recordPrompt(frame, objects) {
    this.edits++;
    this.pending.add(frame);
    this.recordFrame(frame, objects);
  }

  /**
   * A frame's masks (a prompt's answer or a propagation line); objects removed meanwhile are dropped.
   * @param {number} frame @param {FrameMask[]} objects
   */
  recordFrame(frame, objects) {
    this.masks.set(frame, new Map(objects.filter((o) => this.objects.has(o.object_id)).map((o) => [o.object_id, o])));
    this.maskEdit.set(frame, this.edits);
  }

  /** @param {number} frame @returns {FrameMask[]} */
  objectsAt(frame) {
    return [...(this.masks.get(frame)?.values() ?? [])];
  }

  /** The objects whose mask is visible on a frame. @param {number} frame */
  shownAt(frame) {
    return this.objectsAt(frame).filter((o) => o.visible).map((o) => o.object_id);
  }

  /** An object's decoded mask on a frame (null: none). @param {number} frame @param {number} id @returns {Mask | null} */
  maskAt(frame, id) {
    const stored = this.masks.get(frame)?.get(id);
    if (!stored) return null;
    let mask = this.decoded.get(stored);
    if (!mask) this.decoded.set(stored, mask = decodeRle(stored.rle));
    return mask;
  }

  /** Whether a frame's masks predate the last prompt (a Track refreshes them). @param {number} frame */
  isStale(frame) {
    return this.masks.has(frame) && (this.maskEdit.get(frame) ?? 0) < this.edits;
  }

  /** Frames with masks. */
  get trackedCount() {
    return this.masks.size;
  }

  // ------------------------------------------------------------------ tracking
  /**
   * What a Track sends: from the earliest frame prompted since the last finished Track (the server's default, the
   * earliest prompted frame, when none), in the direction asked, to the end.
   * @param {Direction} direction
   * @returns {{ start_frame: number | null, direction: Direction, end_frame: null }}
   */
  trackRequest(direction) {
    const start = this.pending.size ? Math.min(...this.pending) : null;
    return { start_frame: start, direction, end_frame: null };
  }

  /**
   * How many frames a Track covers, each once: both ways, sam2's two passes both give the start frame.
   * @param {{ start_frame: number | null, direction: Direction }} request
   */
  trackSpan({ start_frame, direction }) {
    const start = start_frame ?? this.promptedFrames()[0] ?? 0;  // the server's default: the earliest prompted
    return direction === "forward" ? this.frameCount - start : direction === "backward" ? start + 1 : this.frameCount;
  }

  /** A Track began: its progress counts from none of its frames. @param {{ start_frame: number | null, direction: Direction }} request */
  trackStarted(request) {
    this.lineFrames = new Set();
    this.progress = { done: 0, total: this.trackSpan(request) };
  }

  /**
   * One line of a propagation stream: a frame's masks and the progress (a frame given twice counts once).
   * @param {{ frame: number, objects: FrameMask[], done: number, total: number }} line
   */
  recordLine(line) {
    this.recordFrame(line.frame, line.objects);
    this.lineFrames.add(line.frame);
    this.progress = { done: this.lineFrames.size, total: this.progress?.total || line.total };
  }

  /**
   * A Track ended; a finished one leaves nothing pending.
   * @param {{ finished: boolean }} end @returns {number} how many frames it tracked, each once
   */
  trackEnded({ finished }) {
    if (finished) this.pending.clear();
    this.progress = null;
    return this.lineFrames.size;
  }

  // ------------------------------------------------------------------ playback
  /**
   * The frame on screen `elapsed` seconds after frame `start` started playing, at the file's own timestamps (a
   * variable frame rate plays as recorded): the last frame whose timestamp has come.
   * @param {number} start @param {number} elapsed
   */
  frameAfter(start, elapsed) {
    const ts = this.video.timestamps;
    if (ts.length !== this.frameCount) {  // no per-frame times: the average rate
      return Math.min(this.frameCount - 1, start + Math.floor(elapsed * this.video.fps + 1e-9));
    }
    const t = ts[start] + elapsed;
    let lo = start, hi = this.frameCount - 1;
    while (lo < hi) {  // the last index with ts[i] <= t
      const mid = Math.ceil((lo + hi) / 2);
      if (ts[mid] <= t + 1e-9) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** @param {number} frame its timestamp in seconds (from the average rate when the server gave none) */
  timeOf(frame) {
    return this.video.timestamps[frame] ?? frame / (this.video.fps || 1);
  }
}
