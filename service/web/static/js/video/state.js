// Video mode's document: the objects, the click sets given on each frame, every frame's masks as the sessions
// replied them (forward, and backward before the objects' first prompts), which frame is shown and which is
// live, and the reply rate. Plain data and methods that only change it: no DOM, no network.
import { ObjectTable } from "../objects.js";
import { decodeRle } from "../rle.js";
/** @import { Color } from "../colors.js" */
/** @import { Mask } from "../rle.js" */
/** @import { TrackedObject } from "../socket.js" */
/** @import { Box, Point } from "../geometry.js" */
/** @import { TableObject } from "../objects.js" */

/** @typedef {"fwd" | "bwd"} Direction  which session a frame's mask came from */
/** @typedef {TrackedObject & { direction: "forward" | "backward" }} FrameObject  a mask shown on a frame */

/**
 * @typedef {object} VideoObject
 * @property {number} id @property {string} name @property {Color} color @property {boolean} hidden
 * @property {number | null} firstFrame  the frame of its first prompt (null: not placed yet)
 */

/**
 * The prompts one object got on one frame (a click set is replayed as a whole).
 * @typedef {{ frame: number, obj_id: number, points: Point[], labels: number[], box: Box | null }} ClickSet
 */

/** How long the reply rate looks back, in ms. */
export const RATE_WINDOW_MS = 3000;

/** @extends {ObjectTable<VideoObject, ClickSet>} */
export class VideoState extends ObjectTable {
  constructor() {
    super();
    /** @type {Map<number, { fwd: Map<number, TrackedObject>, bwd: Map<number, TrackedObject> }>} local frame -> replies */
    this.frames = new Map();
    this.current = 0;         // local frame shown
    this.live = -1;           // local frame the forward session is at
    /** @type {number[]} when the recent replies came (performance.now()) */
    this.replyTimes = [];
    /** @type {Record<string, number | string>} the last reply's stages, in ms */
    this.lastTimings = {};
    this.presented = 0;       // camera frames shown
    this.sent = 0;            // frames sent
    /** @type {WeakMap<TrackedObject, Mask>} masks decoded once, on first draw */
    this.decoded = new WeakMap();
  }

  /** @param {TableObject} base @returns {VideoObject} */
  blankObject(base) {
    return { ...base, firstFrame: null };
  }

  /** @param {number} frame @param {number} id @returns {ClickSet} */
  blankSet(frame, id) {
    return { frame, obj_id: id, points: [], labels: [], box: null };
  }

  /** An object's first prompt was answered on this frame. @param {number} id @param {number} frame */
  placed(id, frame) {
    const obj = this.objects.get(id);
    if (obj && obj.firstFrame === null) obj.firstFrame = frame;
  }

  /** Objects placed on some frame. */
  placedObjects() {
    return [...this.objects.values()].filter((o) => o.firstFrame !== null);
  }

  /** The object and all it had: masks, click sets, selection. @param {number} id */
  removeObject(id) {
    super.removeObject(id);
    for (const entry of this.frames.values()) {
      entry.fwd.delete(id);
      entry.bwd.delete(id);
    }
  }

  /**
   * What re-creates a lost session up to frame `upTo`: the first frame with a prompt (upTo + 1 when none) and each
   * frame's click sets, as they stand now.
   * @param {number} upTo @returns {{ first: number, sets: Map<number, ClickSet[]> }}
   */
  replayPlan(upTo) {
    /** @type {Map<number, ClickSet[]>} */
    const sets = new Map();
    for (const set of this.clickSets.values()) {
      if (set.frame > upTo || !this.objects.has(set.obj_id)) continue;
      sets.set(set.frame, [...(sets.get(set.frame) ?? []), set]);
    }
    return { first: sets.size ? Math.min(...sets.keys()) : upTo + 1, sets };
  }

  /**
   * A reply's masks for a frame (objects removed meanwhile are dropped).
   * @param {number} frame @param {Direction} direction @param {TrackedObject[]} objects
   */
  record(frame, direction, objects) {
    let entry = this.frames.get(frame);
    if (!entry) this.frames.set(frame, entry = { fwd: new Map(), bwd: new Map() });
    for (const o of objects) {
      if (this.objects.has(o.obj_id)) entry[direction].set(o.obj_id, o);
    }
  }

  /** Every object's mask on a frame: the forward session's where it has one. @param {number} frame @returns {FrameObject[]} */
  objectsAt(frame) {
    const entry = this.frames.get(frame);
    if (!entry) return [];
    const merged = new Map([...entry.bwd, ...entry.fwd]);
    return [...merged.entries()].map(([id, o]) => ({ ...o, direction: entry.fwd.has(id) ? "forward" : "backward" }));
  }

  /** The objects whose mask is visible (and not empty) on a frame. @param {number} frame */
  shownAt(frame) {
    return this.objectsAt(frame).filter((o) => o.visible && o.area).map((o) => o.obj_id);
  }

  /** An object's decoded mask on a frame (null: none). @param {number} frame @param {number} id @returns {Mask | null} */
  maskAt(frame, id) {
    const entry = this.frames.get(frame);
    const stored = entry && (entry.fwd.get(id) || entry.bwd.get(id));
    if (!stored) return null;
    let mask = this.decoded.get(stored);
    if (!mask) this.decoded.set(stored, mask = decodeRle(stored.mask));
    return mask;
  }

  /** Frames where some object is visible. */
  framesWithMasks() {
    return [...this.frames.keys()].filter((f) => this.shownAt(f).length).length;
  }

  /**
   * A reply came: its stages for the readout and its time for the rate.
   * @param {Record<string, number>} timings @param {number} sentAt @param {number} now @param {boolean} [lost]
   */
  noteReply(timings, sentAt, now, lost = false) {
    this.replyTimes.push(now);
    // The last few seconds' replies, and always the last two: a slow rate (0.1 frame/s) is still a rate.
    this.replyTimes = this.replyTimes.filter((t, i, all) => now - t < RATE_WINDOW_MS || i >= all.length - 2);
    this.lastTimings = lost ? { lost: "reply lost with the socket" } : { ...timings, round_trip: now - sentAt };
  }

  /** Replies a second over the last few seconds, or between the last two when slower (0 until two came). */
  get fps() {
    const t = this.replyTimes;
    return t.length > 1 ? ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]) : 0;
  }
}
