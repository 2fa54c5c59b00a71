// Image mode's document as plain data for the browser's storage (IndexedDB, through persist.js) and back: the
// image (its data URL), the objects with their whole undo histories, the selection and what Undo can bring back.
// Masks are kept as the server's RLE and decoded again on the way back. Pure: no DOM, no storage.
import { decodeRle } from "../rle.js";
import { ImageState } from "./state.js";
/** @import { ImageObject, ImageRecord, MaskState, Trashed } from "./state.js" */
/** @import { Rle } from "../rle.js" */

/** Bumped when the shape below changes: older drafts are then dropped, never misread. */
export const DRAFT_VERSION = 1;

/**
 * @typedef {Omit<MaskState, "mask" | "sam2" | "preview"> & { sam2?: StoredMask | "same" | null }} StoredMask
 *   a mask state without its decoded pixels; sam2 "same": it is its own SAM 2 mask (not refined)
 * @typedef {Omit<ImageObject, "history" | "preview"> & { history: StoredMask[] }} StoredObject
 * @typedef {{ version: number, image: ImageRecord, objects: StoredObject[], selectedId: number | null,
 *             nextId: number, trash: { objects: StoredObject[], selectedId: number | null }[],
 *             unexported: number }} ImageDraft
 */

/** @param {MaskState} m @returns {StoredMask} */
function storeMask(m) {
  const { mask, sam2, ...rest } = m;
  /** @type {StoredMask} */
  const stored = { ...rest };
  if (sam2) stored.sam2 = sam2 === m ? "same" : storeMask(sam2);
  return stored;
}

/** @param {StoredMask} s @returns {MaskState} */
function loadMask(s) {
  const { sam2, ...rest } = s;
  /** @type {MaskState} */
  const m = { ...rest, mask: s.rle ? decodeRle(/** @type {Rle} */ (s.rle)) : null };
  if (sam2) m.sam2 = sam2 === "same" ? m : loadMask(sam2);
  return m;
}

/** @param {ImageObject} o @returns {StoredObject} */
function storeObject({ preview, history, ...rest }) {
  return { ...rest, history: history.map(storeMask) };
}

/** @param {StoredObject} o @returns {ImageObject} */
function loadObject({ history, ...rest }) {
  return { ...rest, history: history.map(loadMask), preview: null };
}

/** @param {ImageState} state @returns {ImageDraft | null} null: nothing worth keeping (no image) */
export function toDraft(state) {
  if (!state.image) return null;
  return {
    version: DRAFT_VERSION, image: { ...state.image }, objects: state.objects.map(storeObject),
    selectedId: state.selectedId, nextId: state.nextId, unexported: state.unexported,
    trash: state.trash.map((t) => ({ objects: t.objects.map(storeObject), selectedId: t.selectedId })),
  };
}

/** @param {unknown} draft what storage held @returns {ImageState | null} null: none, or of another version */
export function fromDraft(draft) {
  const d = /** @type {ImageDraft | null} */ (draft);
  if (!d || d.version !== DRAFT_VERSION || !d.image) return null;
  const state = new ImageState();
  state.open(d.image);
  state.objects = d.objects.map(loadObject);
  state.selectedId = d.selectedId;
  state.nextId = d.nextId;
  state.unexported = d.unexported;
  state.trash = d.trash.map((t) => /** @type {Trashed} */ ({ objects: t.objects.map(loadObject), selectedId: t.selectedId }));
  return state;
}
