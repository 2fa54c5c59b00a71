import assert from "node:assert/strict";
import { test } from "node:test";

import {
  boxFromCorners, centroid, DRAG_THRESHOLD_PX, imagePoint, isDrag, layerTransform, limitSide, timelineFrame,
} from "../../../service/web/static/js/geometry.js";

const RECT = { left: 100, top: 50, width: 640, height: 360 };   // a 1280 x 720 image shown at half size
const IMAGE = { width: 1280, height: 720 };

test("a pointer maps to image pixels through the element's box", () => {
  assert.deepEqual(imagePoint(RECT, IMAGE, 100, 50), [0, 0]);
  assert.deepEqual(imagePoint(RECT, IMAGE, 420, 230), [640, 360]);
  assert.deepEqual(imagePoint(RECT, IMAGE, 100.25, 50.5), [0.5, 1]);
});

test("points outside the picture are clamped onto its edge pixels", () => {
  assert.deepEqual(imagePoint(RECT, IMAGE, 0, 0), [0, 0]);
  assert.deepEqual(imagePoint(RECT, IMAGE, 5000, 5000), [1279, 719]);
});

test("image coordinates are rounded to a hundredth of a pixel", () => {
  const [x, y] = imagePoint({ left: 0, top: 0, width: 300, height: 300 }, { width: 100, height: 100 }, 10, 20);
  assert.equal(x, 3.33);
  assert.equal(y, 6.67);
});

test("a box from two corners in any order", () => {
  assert.deepEqual(boxFromCorners([50, 10], [20, 40]), [20, 10, 50, 40]);
  assert.deepEqual(boxFromCorners([20, 10], [50, 40]), [20, 10, 50, 40]);
});

test("a drag starts past the threshold", () => {
  const from = { clientX: 10, clientY: 10 };
  assert.equal(isDrag(from, { clientX: 10 + DRAG_THRESHOLD_PX, clientY: 10 }), false);
  assert.equal(isDrag(from, { clientX: 15, clientY: 15 }), true);
});

test("the prompt layer's transform and one CSS pixel in image units", () => {
  assert.deepEqual(layerTransform({ width: 1280, height: 720 }, { width: 640, height: 360 }, 2), { sx: 2, sy: 2, cssPx: 1 });
  assert.deepEqual(layerTransform({ width: 320, height: 180 }, IMAGE, 1), { sx: 0.25, sy: 0.25, cssPx: 4 });
});

test("frames are scaled down to the longer side, never up", () => {
  assert.deepEqual(limitSide({ width: 1920, height: 1080 }, 1280), { width: 1280, height: 720 });
  assert.deepEqual(limitSide({ width: 720, height: 1280 }, 640), { width: 360, height: 640 });
  assert.deepEqual(limitSide({ width: 160, height: 120 }, 1280), { width: 160, height: 120 });
});

test("a mask's centroid, none for an empty mask", () => {
  const mask = new Uint8Array(4 * 3);
  mask[1 * 4 + 1] = mask[1 * 4 + 2] = 1;   // (1, 1) and (2, 1)
  assert.deepEqual(centroid(mask, 4), { x: 1.5, y: 1 });
  assert.equal(centroid(new Uint8Array(12), 4), null);
});

test("the timeline cell under the pointer, clamped to the video", () => {
  const rect = { left: 0, top: 0, width: 120, height: 40 };
  assert.equal(timelineFrame(rect, 0, 12), 0);
  assert.equal(timelineFrame(rect, 59.9, 12), 5);
  assert.equal(timelineFrame(rect, 119.9, 12), 11);
  assert.equal(timelineFrame(rect, 500, 12), 11);
  assert.equal(timelineFrame(rect, -3, 12), 0);
});
