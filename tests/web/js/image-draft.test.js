import assert from "node:assert/strict";
import { test } from "node:test";

import { DRAFT_VERSION, fromDraft, toDraft } from "../../../service/web/static/js/image/draft.js";
import { ImageState } from "../../../service/web/static/js/image/state.js";
/** @import { ImageObject, MaskState } from "../../../service/web/static/js/image/state.js" */

const IMAGE = { name: "cat.png", dataUrl: "data:image/png;base64,AAAA", width: 4, height: 3, imageId: "img_1" };
const RLE = { size: /** @type {[number, number]} */ ([3, 4]), counts: [1, 5, 6] };  // column-major runs

/** @param {number} score @param {boolean} refined @returns {MaskState} */
function answered(score, refined) {
  /** @type {MaskState} */
  const m = { points: [[1, 2]], labels: [1], box: null, mask: new Uint8Array(12), rle: RLE, score, logitsId: "lg_1", refined };
  m.sam2 = refined ? { ...m, refined: false, score: score / 2, sam2: null } : m;
  return m;
}

test("a draft is plain data that restores the objects, histories, selection and trash, masks decoded again", () => {
  const s = new ImageState();
  s.open(IMAGE);
  const a = /** @type {ImageObject} */ (s.newObject());
  s.commit(a, answered(0.5, false));
  s.commit(a, answered(0.7, true));
  s.undo();
  s.rename(a.id, "cat");
  const b = /** @type {ImageObject} */ (s.newObject());
  s.commit(b, answered(0.9, false));
  s.clearAll();
  s.undo();
  s.remove(b.id);
  const draft = /** @type {NonNullable<ReturnType<typeof toDraft>>} */ (toDraft(s));
  assert.deepEqual(structuredClone(draft), draft, "what IndexedDB stores is what comes back");
  assert.equal(JSON.stringify(draft).includes("Uint8Array"), false);
  const back = /** @type {ImageState} */ (fromDraft(structuredClone(draft)));
  assert.deepEqual(back.image, IMAGE);
  assert.deepEqual([back.selectedId, back.nextId, back.unexported], [s.selectedId, s.nextId, s.unexported]);
  const [ra] = back.objects;
  assert.deepEqual([ra.name, ra.at, ra.history.length, ra.hidden], ["cat", 1, 3, false]);
  const refined = ra.history[2], plain = ra.history[1];
  // the RLE's runs: 1 zero, 5 ones, 6 zeros, column-major over 3 rows
  assert.deepEqual([...(refined.mask ?? [])], [0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
  assert.equal(refined.sam2?.score, 0.35);
  assert.equal(plain.sam2, plain, "an unrefined mask is its own SAM 2 mask again");
  assert.equal(back.trash.length, 1);
  assert.deepEqual(back.trash[0].objects.map((o) => o.id), [b.id]);
  back.selectedId = null;  // (Undo acts on the selected object's history first)
  back.undo();
  assert.deepEqual(back.objects.map((o) => o.id), [a.id, b.id]);
});

test("no image, no draft; a draft of another version or none restores nothing", () => {
  assert.equal(toDraft(new ImageState()), null);
  assert.equal(fromDraft(null), null);
  assert.equal(fromDraft({ version: DRAFT_VERSION + 1, image: IMAGE }), null);
});
