import assert from "node:assert/strict";
import { test } from "node:test";

import {
  boxFromCorners, centroid, DRAG_THRESHOLD_PX, fitRect, imagePoint, isDrag, layerTransform, limitSide, timelineFrame,
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

// The pictures in the stage boxes the page gives them at its test viewports (and a few odd ones).
const PICTURES = [[1920, 1080], [720, 1280], [4000, 1000], [1000, 3000], [33, 17], [1, 4000]];
const BOXES = [[850, 518], [970, 648], [2130, 1037], [333, 320]];

test("a picture is letterboxed at its own aspect ratio, centred, on whole device pixels, inside the box", () => {
  for (const [iw, ih] of PICTURES) {
    for (const [bw, bh] of BOXES) {
      for (const dpr of [1, 1.5, 2]) {
        const r = fitRect({ width: bw, height: bh }, { width: iw, height: ih }, dpr);
        const what = `${iw}x${ih} in ${bw}x${bh} at ${dpr}`;
        for (const v of [r.left, r.top, r.width, r.height]) {
          assert.ok(Math.abs(v * dpr - Math.round(v * dpr)) < 1e-9, `${what}: ${v} is not on a device pixel`);
        }
        assert.ok(r.left >= 0 && r.top >= 0 && r.left + r.width <= bw + 1e-9 && r.top + r.height <= bh + 1e-9, what);
        // fills the box one way (to the device pixel) ...
        assert.ok(Math.abs(r.width - bw) <= 1 / dpr || Math.abs(r.height - bh) <= 1 / dpr, what);
        // ... keeps the aspect ratio to within the rounding of one side to a device pixel ...
        const scaleX = r.width / iw, scaleY = r.height / ih;
        if (r.width * dpr > 1 && r.height * dpr > 1) {
          assert.ok(Math.abs(scaleX * iw - scaleY * iw) <= 1 / dpr + 1e-9 || Math.abs(scaleX * ih - scaleY * ih) <= 1 / dpr + 1e-9, what);
        }
        // ... and is centred (to the device pixel)
        assert.ok(Math.abs(r.left - (bw - r.width) / 2) <= 0.5 / dpr + 1e-9, what);
        assert.ok(Math.abs(r.top - (bh - r.height) / 2) <= 0.5 / dpr + 1e-9, what);
      }
    }
  }
});

test("small pictures are enlarged to fill the box, large ones shrunk", () => {
  assert.deepEqual(fitRect({ width: 660, height: 340 }, { width: 33, height: 17 }, 1), { left: 0, top: 0, width: 660, height: 340 });
  assert.deepEqual(fitRect({ width: 800, height: 600 }, { width: 1000, height: 3000 }, 1), { left: 300, top: 0, width: 200, height: 600 });
  assert.deepEqual(fitRect({ width: 800, height: 600 }, { width: 4000, height: 1000 }, 2), { left: 0, top: 200, width: 800, height: 200 });
});

test("an empty box or picture gives an empty rect", () => {
  assert.deepEqual(fitRect({ width: 0, height: 600 }, { width: 10, height: 10 }, 1), { left: 0, top: 0, width: 0, height: 0 });
  assert.deepEqual(fitRect({ width: 10, height: 10 }, { width: 0, height: 10 }, 1), { left: 0, top: 0, width: 0, height: 0 });
});

test("a click anywhere on the letterboxed picture maps back to the image pixel under it", () => {
  for (const [iw, ih] of PICTURES) {
    const r = fitRect({ width: 970, height: 648 }, { width: iw, height: ih }, 2);
    const rect = { ...r, left: r.left + 17, top: r.top + 120 };  // the stage's place on the page
    for (const [fx, fy] of [[0.1, 0.1], [0.5, 0.5], [0.97, 0.9]]) {
      const x = Math.floor(fx * iw) + 0.5, y = Math.floor(fy * ih) + 0.5;
      const [px, py] = imagePoint(rect, { width: iw, height: ih }, rect.left + (x / iw) * r.width, rect.top + (y / ih) * r.height);
      // within the rounding to 1/100 px, and the clamp of the last half pixel onto the last pixel's centre line
      const tol = (/** @type {number} */ v, /** @type {number} */ size) => (v > size - 1 ? 0.5 : 0.01) + 1e-9;
      assert.ok(Math.abs(px - x) <= tol(x, iw) && Math.abs(py - y) <= tol(y, ih), `${iw}x${ih}: ${px},${py} for ${x},${y}`);
    }
  }
});
