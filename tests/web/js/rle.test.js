// COCO RLE as pycocotools writes it. The compressed strings below are pycocotools.mask.encode's output for the
// masks the tests build (Python: mask.encode(np.asfortranarray(m.astype(np.uint8)))["counts"]).
import assert from "node:assert/strict";
import { test } from "node:test";

import { countsFromString, decodeRle, maskStats } from "../../../service/web/static/js/rle.js";

/** @param {number} h @param {number} w @param {(x: number, y: number) => boolean} inside */
function maskOf(h, w, inside) {
  const m = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = inside(x, y) ? 1 : 0;
  return m;
}

const SMALL = [[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]];
const small = maskOf(3, 4, (x, y) => SMALL[y][x] === 1);

test("counts as a list are column-major runs starting with zeros", () => {
  assert.deepEqual(decodeRle({ size: [3, 4], counts: [2, 5, 4, 1] }), small);
});

test("pycocotools' compressed string decodes to the same counts, negative differences included", () => {
  assert.deepEqual(countsFromString("254L"), [2, 5, 4, 1]);  // 1 is stored as 1 - 5 = -4
  assert.deepEqual(decodeRle({ size: [3, 4], counts: "254L" }), small);
});

test("long runs take several characters", () => {
  const counts = "o2d0:00000000000000000000000000000000000000000000000000000000000000000e2";
  const rect = maskOf(30, 40, (x, y) => y >= 5 && y < 25 && x >= 3 && x < 37);
  assert.deepEqual(decodeRle({ size: [30, 40], counts }), rect);
});

test("a mask whose runs grow and shrink column by column", () => {
  const counts = "2`12I7I7I7I7I7I7V1jNI7I7I7I7I7V1jNI7I7I7I7I7I7V1jNI7I7I7I7I7V1jNI7I7I7I7I7I7V1jNI7I7I7I7I7V1jNI7I7I7I7I7V1jNI7I7I7I7I7I7V1jNI7I7I7I7I7V1jNI5";
  const ramp = maskOf(50, 60, (x, y) => y >= 2 && y < 2 + Math.max(0, 48 - ((x * 7) % 45)));
  const decoded = decodeRle({ size: [50, 60], counts });
  assert.deepEqual(decoded, ramp);
  assert.equal(decoded.reduce((n, v) => n + v, 0), 1605);  // pycocotools' area of the same mask
});

test("an empty mask and a full one", () => {
  assert.deepEqual(decodeRle({ size: [2, 3], counts: [6] }), new Uint8Array(6));
  assert.deepEqual(decodeRle({ size: [2, 3], counts: [0, 6] }), new Uint8Array(6).fill(1));
});

test("mask statistics are COCO's area and [x, y, width, height]", () => {
  assert.deepEqual(maskStats(small, 4, 3), { area: 6, bbox: [0, 0, 4, 3] });
  const rect = maskOf(30, 40, (x, y) => y >= 5 && y < 25 && x >= 3 && x < 37);
  assert.deepEqual(maskStats(rect, 40, 30), { area: 20 * 34, bbox: [3, 5, 34, 20] });
  assert.deepEqual(maskStats(new Uint8Array(12), 4, 3), { area: 0, bbox: [0, 0, 0, 0] });
});
