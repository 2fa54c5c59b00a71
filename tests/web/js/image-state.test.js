import assert from "node:assert/strict";
import { test } from "node:test";

import { EMPTY, ImageState } from "../../../service/web/static/js/image/state.js";
import { nextPrompts } from "../../../service/web/static/js/objects.js";

const IMAGE = { name: "cat.png", dataUrl: "data:,", width: 8, height: 6, imageId: null };

/** A state the server might have answered, with a marker to tell states apart. @param {number} n */
function answered(n) {
  return { points: [], labels: [], box: null, mask: new Uint8Array(48).fill(n % 2), score: n / 10 };
}

test("a click adds a point with its label; a box replaces the box", () => {
  const one = nextPrompts(EMPTY, { point: [1, 2], label: 1 });
  const two = nextPrompts(one, { point: [3, 4], label: 0 });
  const boxed = nextPrompts(nextPrompts(two, { box: [0, 0, 5, 5] }), { box: [1, 1, 4, 4] });
  assert.deepEqual(two, { points: [[1, 2], [3, 4]], labels: [1, 0], box: null });
  assert.deepEqual(boxed, { points: [[1, 2], [3, 4]], labels: [1, 0], box: [1, 1, 4, 4] });
  assert.deepEqual(one.points, [[1, 2]], "the previous click set is left as it was");
});

test("objects need an image; each new one is selected, numbered and coloured in turn", () => {
  const s = new ImageState();
  assert.equal(s.newObject(), null);
  s.open(IMAGE);
  const a = s.newObject(), b = s.newObject();
  assert.deepEqual([a?.id, b?.id, s.selectedId], [1, 2, 2]);
  assert.notDeepEqual(a?.color, b?.color);
  assert.equal(s.current(/** @type {any} */ (a)), EMPTY);
});

test("undo and redo walk the selected object's history; a new state drops what was undone", () => {
  const s = new ImageState();
  s.open(IMAGE);
  const obj = /** @type {import("../../../service/web/static/js/image/state.js").ImageObject} */ (s.newObject());
  s.commit(obj, answered(1));
  s.commit(obj, answered(2));
  assert.equal(obj.at, 2);
  s.undo();
  s.undo();
  assert.equal(s.current(obj), EMPTY);
  assert.equal(s.canUndo, false);
  s.undo();
  assert.equal(obj.at, 0);
  s.redo();
  assert.equal(s.current(obj).score, 0.1);
  s.commit(obj, answered(3));
  assert.deepEqual(obj.history.map((h) => h.score), [undefined, 0.1, 0.3]);
  assert.equal(s.canRedo, false);
});

test("removing the selected object selects the last one left", () => {
  const s = new ImageState();
  s.open(IMAGE);
  s.newObject(); s.newObject(); s.newObject();
  s.select(2);
  s.remove(2);
  assert.deepEqual([s.objects.map((o) => o.id), s.selectedId], [[1, 3], 3]);
  s.remove(1);
  assert.equal(s.selectedId, 3);
  s.clearAll();
  assert.deepEqual([s.objects, s.selectedId], [[], null]);
});

test("a streamed preview is what is shown, not what is kept", () => {
  const s = new ImageState();
  s.open(IMAGE);
  const obj = /** @type {import("../../../service/web/static/js/image/state.js").ImageObject} */ (s.newObject());
  obj.preview = answered(5);
  assert.equal(s.shown(obj).score, 0.5);
  assert.equal(s.current(obj), EMPTY);
  assert.deepEqual(s.withMasks(), []);
  s.commit(obj, answered(1));
  assert.deepEqual(s.withMasks(), [obj]);
});

test("a new image forgets the objects; selection by position, hiding and renaming", () => {
  const s = new ImageState();
  s.open(IMAGE);
  s.newObject(); s.newObject();
  assert.equal(s.selectByIndex(0), true);
  assert.equal(s.selectByIndex(5), false);
  assert.equal(s.selectedId, 1);
  s.toggleHidden();
  s.rename(2, "dog");
  assert.deepEqual(s.objects.map((o) => [o.hidden, o.name]), [[true, "object 1"], [false, "dog"]]);
  s.open({ ...IMAGE, name: "other.png" });
  assert.deepEqual([s.objects, s.selectedId, s.nextId], [[], null, 1]);
});

test("Clear all and Delete can be undone; replacing the image asks while a mask is not exported", () => {
  const s = new ImageState();
  s.open(IMAGE);
  assert.equal(s.hasUnsavedWork, false);
  const a = /** @type {import("../../../service/web/static/js/image/state.js").ImageObject} */ (s.newObject());
  s.commit(a, answered(1));
  const b = /** @type {import("../../../service/web/static/js/image/state.js").ImageObject} */ (s.newObject());
  s.commit(b, answered(3));
  assert.equal(s.hasUnsavedWork, true);
  s.unexported = 0;  // exported
  assert.equal(s.hasUnsavedWork, false);
  s.remove(a.id);
  assert.deepEqual(s.objects.map((o) => o.id), [b.id]);
  assert.equal(s.clearAll(), 1);
  assert.deepEqual([s.objects.length, s.selectedId, s.canUndo], [0, null, true]);
  s.undo();  // brings back what Clear all took ...
  assert.deepEqual([s.objects.map((o) => o.id), s.selectedId], [[b.id], b.id]);
  s.selectedId = null;
  s.undo();  // ... then what Delete took, in id order, histories intact
  assert.deepEqual(s.objects.map((o) => o.id), [a.id, b.id]);
  assert.equal(s.current(s.objects[0]).score, 0.1);
  assert.equal(s.canUndo, true);  // a's own history (its first state is before any answer)
  assert.equal(s.hasUnsavedWork, true);
  s.open(IMAGE);
  assert.deepEqual([s.objects.length, s.trash.length, s.hasUnsavedWork], [0, 0, false]);
});
