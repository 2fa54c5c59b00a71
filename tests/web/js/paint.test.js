import assert from "node:assert/strict";
import { test } from "node:test";

import { FILL_ALPHA, paintMasks } from "../../../service/web/static/js/paint.js";

const W = 5, H = 4;
/** @param {number[][]} rows */
const maskOf = (rows) => Uint8Array.from(rows.flat());
const alpha = (/** @type {Uint8ClampedArray} */ px) => Array.from({ length: W * H }, (_, i) => px[i * 4 + 3]);

const BLOCK = maskOf([
  [0, 0, 0, 0, 0],
  [0, 1, 1, 1, 0],
  [0, 1, 1, 1, 0],
  [0, 1, 1, 1, 0],
]);

test("a mask is an opaque outline around a translucent fill; outside stays transparent", () => {
  const px = new Uint8ClampedArray(W * H * 4);
  paintMasks(px, W, H, [{ mask: BLOCK, color: [10, 20, 30] }]);
  const E = 255, F = FILL_ALPHA;
  assert.deepEqual(alpha(px), [
    0, 0, 0, 0, 0,
    0, E, E, E, 0,
    0, E, F, E, 0,
    0, E, E, E, 0,  // the image's border is an edge too
  ]);
  assert.deepEqual([...px.subarray((2 * W + 2) * 4, (2 * W + 2) * 4 + 3)], [10, 20, 30]);
});

test("later layers are painted on top; a column range limits a layer", () => {
  const px = new Uint8ClampedArray(W * H * 4);
  const all = new Uint8Array(W * H).fill(1);
  paintMasks(px, W, H, [
    { mask: all, color: [1, 1, 1] },
    { mask: all, color: [2, 2, 2], fromX: 2 },
  ]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) assert.equal(px[(y * W + x) * 4], x < 2 ? 1 : 2, `pixel ${x},${y}`);
  }
});
