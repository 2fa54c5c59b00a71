// What the two modes export, built from their state as the page holds it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { decode as decodePng } from "fast-png";
import { unzipSync } from "fflate";

import { cocoDocument, cocoFile, cutoutFile, maskFile } from "../../../service/web/static/js/image/export.js";
import { ImageState } from "../../../service/web/static/js/image/state.js";
import { exportDocument, jsonFile, maskFileName, zipFile } from "../../../service/web/static/js/video/export.js";
import { VideoState } from "../../../service/web/static/js/video/state.js";

/** @import { ImageObject } from "../../../service/web/static/js/image/state.js" */

const IMAGE = { name: "street.jpg", dataUrl: "data:,", width: 4, height: 3, imageId: "img_1" };
// Row-major 4 x 3, and its RLE (column-major runs): columns 1 and 2, rows 0-1.
const MASK = Uint8Array.from([0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
const RLE = { size: /** @type {[number, number]} */ ([3, 4]), counts: [3, 2, 1, 2, 4] };

function imageWithObjects() {
  const s = new ImageState();
  s.open({ ...IMAGE });
  const a = /** @type {ImageObject} */ (s.newObject());
  s.commit(a, { points: [[1, 1]], labels: [1], box: null, mask: MASK, rle: RLE, score: 0.9, refined: true });
  s.newObject();  // no mask yet: not exported
  return { s, a };
}

test("COCO: one annotation per object with a mask, the server's RLE, COCO's area and box", () => {
  const { s } = imageWithObjects();
  const doc = cocoDocument(/** @type {any} */ (s.image), s.objects, new Date("2026-01-02T03:04:05Z"));
  assert.deepEqual(doc.images, [{ id: 1, file_name: "street.jpg", width: 4, height: 3 }]);
  assert.deepEqual(doc.annotations, [{
    id: 1, image_id: 1, category_id: 1, segmentation: RLE, area: 4, bbox: [1, 0, 2, 2], iscrowd: 0,
    score: 0.9, name: "object 1", refined: true,
  }]);
  assert.equal(doc.info.date_created, "2026-01-02T03:04:05.000Z");
  const file = cocoFile(/** @type {any} */ (s.image), s.objects);
  assert.equal(file.name, "street_coco.json");
  assert.equal(JSON.parse(new TextDecoder().decode(file.data)).annotations.length, 1);
});

test("the mask PNG and the cut-out carry the object's mask", () => {
  const { s, a } = imageWithObjects();
  const image = /** @type {any} */ (s.image);
  const png = /** @type {{ name: string, data: Uint8Array }} */ (maskFile(image, a));
  assert.equal(png.name, "street_1_mask.png");
  assert.deepEqual([...decodePng(png.data).data], [...MASK].map((v) => v * 255));
  const rgba = Uint8ClampedArray.from({ length: 48 }, (_, i) => i);
  const cut = decodePng(/** @type {any} */ (cutoutFile(image, a, rgba)).data);
  assert.equal(cut.channels, 4);
  for (let i = 0; i < 12; i++) {
    assert.deepEqual([...cut.data.subarray(i * 4, i * 4 + 3)], [i * 4, i * 4 + 1, i * 4 + 2]);
    assert.equal(cut.data[i * 4 + 3], MASK[i] ? 255 : 0);
  }
  assert.equal(rgba[3], 3, "the image's own pixels are left alone");
  assert.equal(maskFile(image, s.objects[1]), null);
});

function trackedVideo() {
  const s = new VideoState();
  const a = s.newObject(), b = s.newObject();
  s.placed(a, 0);
  s.placed(b, 1);
  const o = (/** @type {number} */ id, visible = true) => ({ obj_id: id, mask: RLE, visible, area: 4, score: 1 });
  s.record(1, "fwd", [o(a), o(b)]);
  s.record(0, "bwd", [o(b, false)]);
  s.record(0, "fwd", [o(a)]);
  return s;
}

const SOURCE = { name: "walk.webm", kind: "file", width: 4, height: 3, fps: 5, frameCount: 12 };

test("the video JSON: frames in order, each object as replied with the direction it came from", () => {
  const doc = exportDocument(trackedVideo(), SOURCE, "web-abc");
  assert.deepEqual(doc.video, { name: "walk.webm", kind: "file", width: 4, height: 3, fps: 5, frame_count: 12, session: "web-abc" });
  assert.deepEqual(doc.objects, [{ obj_id: 1, name: "object 1", first_frame: 0 }, { obj_id: 2, name: "object 2", first_frame: 1 }]);
  assert.deepEqual(doc.frames.map((f) => [f.frame_idx, f.objects.map((o) => [o.obj_id, o.direction])]), [
    [0, [[2, "backward"], [1, "forward"]]],
    [1, [[1, "forward"], [2, "forward"]]],
  ]);
  assert.deepEqual(doc.frames[0].objects[0], { obj_id: 2, mask: RLE, visible: false, area: 4, score: 1, direction: "backward" });
  const camera = exportDocument(new VideoState(), { ...SOURCE, kind: "camera", fps: null, frameCount: Infinity }, null);
  assert.deepEqual([camera.video.fps, camera.video.frame_count, camera.frames], [null, null, []]);
  assert.equal(jsonFile(doc).name, "walk_masks.json");
});

test("the video zip: masks.json and one gray PNG per frame and object", () => {
  const doc = exportDocument(trackedVideo(), SOURCE, "web-abc");
  const file = zipFile(doc);
  assert.equal(file.name, "walk_masks.zip");
  const entries = unzipSync(file.data);
  assert.deepEqual(Object.keys(entries), ["masks.json", maskFileName(0, 2), maskFileName(0, 1), maskFileName(1, 1), maskFileName(1, 2)]);
  assert.equal(maskFileName(12, 3), "frame_000012_obj_3.png");
  assert.deepEqual(JSON.parse(new TextDecoder().decode(entries["masks.json"])), doc);
  const png = decodePng(entries[maskFileName(1, 2)]);
  assert.deepEqual([png.width, png.height, png.channels], [4, 3, 1]);
  assert.deepEqual([...png.data], [...MASK].map((v) => v * 255));
});
