// Image mode's document: the open image, its objects, each object's history of prompt states (undo / redo) and
// the selection. Plain data and methods that only change it: no DOM, no network.
import { colorOf } from "../colors.js";
/** @import { Box, Point } from "../geometry.js" */
/** @import { Color } from "../colors.js" */
/** @import { Mask, Rle } from "../rle.js" */
/** @import { Prompts } from "../objects.js" */

/**
 * One state in an object's history: its prompts and, once the server answered them, the mask it kept.
 * @typedef {object} MaskState
 * @property {Point[]} points @property {number[]} labels @property {Box | null} box
 * @property {Mask | null} mask  null until answered (the first state of every object)
 * @property {Rle} [rle]  the mask as the server sent it (exports carry it unchanged)
 * @property {number} [score] @property {string} [logitsId]  the server's id for this mask's logits
 * @property {string | null} [usedLogitsId]  the previous mask's logits, sent as the corrective prompt
 * @property {boolean} [refined]  whether the refiner made this mask
 * @property {MaskState | null} [sam2]  SAM 2's mask for the same prompts (compare view); itself when not refined
 * @property {boolean} [stream]  whether it came as a stream (SAM 2's part first)
 * @property {Record<string, number | boolean>} [timings]  the server's, in ms
 * @property {number} [roundTripMs]
 * @property {boolean} [local]  decoded in this browser (SAM 2's decoder, no request)
 * @property {Float32Array} [localLogits]  SAM 2's low-res logits of this mask, the next local decode's mask prompt
 */

/**
 * The image being segmented. imageId is the server's id for its cached features (null: send the pixels).
 * @typedef {{ name: string, dataUrl: string, width: number, height: number, imageId: string | null }} ImageRecord
 */

/**
 * @typedef {object} ImageObject
 * @property {number} id @property {string} name @property {Color} color @property {boolean} hidden
 * @property {MaskState[]} history @property {number} at  the state shown (undo moves it back)
 * @property {MaskState | null} preview  SAM 2's streamed mask, shown until the refined one arrives
 */

/** @typedef {{ objects: ImageObject[], selectedId: number | null }} Trashed  what one removal took away */

/** @type {Readonly<MaskState>} */
export const EMPTY = Object.freeze({ points: [], labels: [], box: null, mask: null });

export class ImageState {
  constructor() {
    /** @type {ImageRecord | null} */
    this.image = null;
    /** @type {ImageObject[]} */
    this.objects = [];
    /** @type {number | null} */
    this.selectedId = null;
    this.nextId = 1;
    /** @type {{ objId: number, prompts: Prompts } | null} prompts shown while their request is in flight */
    this.inFlight = null;
    /** @type {Trashed[]} objects removed (Delete, Clear all), newest last: Undo brings them back */
    this.trash = [];
    /** changes since the objects were last exported (COCO JSON): replacing the image asks first while > 0 */
    this.unexported = 0;
  }

  /** A new image: no objects. @param {ImageRecord} image */
  open(image) {
    this.image = image;
    this.objects = [];
    this.selectedId = null;
    this.nextId = 1;
    this.inFlight = null;
    this.trash = [];
    this.unexported = 0;
  }

  /** @param {number | null} id */
  find(id) {
    return this.objects.find((o) => o.id === id) ?? null;
  }

  get selected() {
    return this.find(this.selectedId);
  }

  /** The state an object is at. @param {ImageObject} obj */
  current(obj) {
    return obj.history[obj.at];
  }

  /** What is drawn for an object: its streamed preview while one is shown. @param {ImageObject} obj */
  shown(obj) {
    return obj.preview ?? obj.history[obj.at];
  }

  /** A new, selected object with no prompts (null without an image). */
  newObject() {
    if (!this.image) return null;
    const id = this.nextId++;
    /** @type {ImageObject} */
    const obj = { id, name: `object ${id}`, color: colorOf(id - 1), hidden: false, history: [EMPTY], at: 0, preview: null };
    this.objects.push(obj);
    this.selectedId = id;
    return obj;
  }

  /** @param {number | null} id */
  select(id) {
    this.selectedId = id;
  }

  /** @param {number} i the object's position in the list */
  selectByIndex(i) {
    const obj = this.objects[i];
    if (obj) this.selectedId = obj.id;
    return Boolean(obj);
  }

  /** @param {number} id */
  remove(id) {
    const obj = this.find(id);
    if (!obj) return;
    this.trash.push({ objects: [obj], selectedId: this.selectedId });
    this.objects = this.objects.filter((o) => o !== obj);
    if (this.selectedId === id) this.selectedId = this.objects.at(-1)?.id ?? null;
    this.unexported++;
  }

  /** Removes every object; Undo brings them back. @returns {number} how many were removed */
  clearAll() {
    const n = this.objects.length;
    if (!n) return 0;
    this.trash.push({ objects: this.objects, selectedId: this.selectedId });
    this.objects = [];
    this.selectedId = null;
    this.unexported++;
    return n;
  }

  /** Whether there is work that replacing the image would lose: a mask not exported since it changed. */
  get hasUnsavedWork() {
    return this.unexported > 0 && this.objects.some((o) => o.history[o.at].mask);
  }

  /** @param {number | null} [id] */
  toggleHidden(id = this.selectedId) {
    const obj = this.find(id);
    if (obj) obj.hidden = !obj.hidden;
  }

  /** @param {number} id @param {string} name */
  rename(id, name) {
    const obj = this.find(id);
    if (obj) obj.name = name;
  }

  /** The selected object's last state can be undone, or else the last removal. */
  get canUndo() {
    const obj = this.selected;
    return Boolean(obj && obj.at > 0) || this.trash.length > 0;
  }

  get canRedo() {
    const obj = this.selected;
    return Boolean(obj && obj.at < obj.history.length - 1);
  }

  /** Moves the selected object one state back; when it has none, brings back what was last removed. */
  undo() {
    const obj = this.selected;
    if (obj && obj.at > 0) {
      obj.at--;
      this.unexported++;
      return;
    }
    const trashed = this.trash.pop();
    if (!trashed) return;
    const ids = new Set(trashed.objects.map((o) => o.id));
    this.objects = [...this.objects.filter((o) => !ids.has(o.id)), ...trashed.objects].sort((a, b) => a.id - b.id);
    this.selectedId = trashed.selectedId !== null && this.find(trashed.selectedId) ? trashed.selectedId : trashed.objects[0].id;
    this.unexported++;
  }

  redo() {
    const obj = this.selected;
    if (obj && this.canRedo) {
      obj.at++;
      this.unexported++;
    }
  }

  /** A new state for the object after the one shown (the states undone before it are dropped). @param {ImageObject} obj @param {MaskState} state */
  commit(obj, state) {
    obj.history = obj.history.slice(0, obj.at + 1);
    obj.history.push(state);
    obj.at = obj.history.length - 1;
    this.unexported++;
  }

  /** Objects whose current state has a mask (what the exports hold). */
  withMasks() {
    return this.objects.filter((o) => o.history[o.at].mask);
  }
}
