// File mode's wire: the prompt body, NDJSON lines split anywhere, how a propagation stream ends, the frame cache,
// the export's file name.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../../../service/web/static/js/api.js";
import { exportFileName } from "../../../service/web/static/js/file/export.js";
import {
  FrameCache, MASK_READS, isLostSession, ndjsonLines, promptBody, readPropagation, readStoredMasks,
} from "../../../service/web/static/js/file/network.js";

/** A byte stream that delivers `text` in the given pieces. @param {string[]} pieces */
function streamOf(pieces) {
  const bytes = pieces.map((p) => new TextEncoder().encode(p));
  return new ReadableStream({ pull(c) { const b = bytes.shift(); if (b) c.enqueue(b); else c.close(); } });
}

/** @param {any[]} values */
async function* iterate(values) {
  yield* values;
}

const line = (/** @type {number} */ frame, /** @type {number} */ done) =>
  ({ frame, time: frame / 10, objects: [], done, total: 3 });

test("a click set as the prompt route's body: the whole set, replacing the object's old points", () => {
  assert.deepEqual(promptBody({ frame: 4, object_id: 2, points: [[1.5, 2]], labels: [1], box: null }), {
    frame: 4, object_id: 2, points: [[1.5, 2]], labels: [1], clear_old_points: true,
  });
  assert.deepEqual(promptBody({ frame: 0, object_id: 1, points: [], labels: [], box: [1, 2, 3, 4] }), {
    frame: 0, object_id: 1, box: [1, 2, 3, 4], clear_old_points: true,
  }, "a box alone: no empty point list");
});

test("NDJSON lines come out whole however the bytes are cut, multi-byte characters included", async () => {
  const text = '{"a":1}\n{"b":"é€"}\n\n{"c":[1,2]}\n';
  const bytes = new TextEncoder().encode(text);
  const pieces = [bytes.slice(0, 3), bytes.slice(3, 13), bytes.slice(13, 14), bytes.slice(14)];
  const stream = new ReadableStream({ pull(c) { const b = pieces.shift(); if (b) c.enqueue(b); else c.close(); } });
  const got = [];
  for await (const value of ndjsonLines(stream)) got.push(value);
  assert.deepEqual(got, [{ a: 1 }, { b: "é€" }, { c: [1, 2] }]);
  const last = [];
  for await (const value of ndjsonLines(streamOf(['{"x":1}\n{"y"', ":2}"]))) last.push(value);
  assert.deepEqual(last, [{ x: 1 }, { y: 2 }], "a last line without its newline");
});

test("a propagation: every frame line in order, then how it ended", async () => {
  const seen = /** @type {number[]} */ ([]);
  const end = await readPropagation(iterate([line(2, 1), line(3, 2), line(1, 3), { finished: true, frames: 3 }]),
    (l) => seen.push(l.frame));
  assert.deepEqual(seen, [2, 3, 1]);
  assert.deepEqual(end, { finished: true, cancelled: false, done: 3 });
  assert.deepEqual(await readPropagation(iterate([line(2, 1), { cancelled: true, done: 1 }]), () => {}),
    { finished: false, cancelled: true, done: 1 });
});

test("an error line is the service's error; a stream cut before its last line is a network error", async () => {
  const failed = readPropagation(iterate([line(0, 1), { error: { code: "state_store_unavailable", message: "down" } }]), () => {});
  await assert.rejects(failed, (e) => e instanceof ApiError && e.code === "state_store_unavailable" && e.retryable);
  const cut = readPropagation(iterate([line(0, 1), line(1, 2)]), () => {});
  await assert.rejects(cut, (e) => e instanceof ApiError && e.code === "network" && /after 2 frames/.test(e.detail));
});

test("frames are fetched once, the least recently used dropped past the cache's size, a failed fetch retried", async () => {
  const fetched = /** @type {number[]} */ ([]);
  const closed = /** @type {number[]} */ ([]);
  const original = globalThis.createImageBitmap;
  // Node has no createImageBitmap: a stand-in that keeps which frame it was and records close().
  globalThis.createImageBitmap = /** @type {any} */ (async (/** @type {Blob} */ blob) => {
    const k = Number(await blob.text());
    return { k, close: () => closed.push(k) };
  });
  try {
    let failNext = true;
    const cache = new FrameCache(async (k) => {
      fetched.push(k);
      if (k === 9 && failNext) { failNext = false; throw new Error("lost"); }
      return new Blob([String(k)]);
    }, 2);
    assert.equal(/** @type {any} */ (await cache.get(0)).k, 0);
    await cache.get(1);
    await cache.get(0);   // cached: 0 is now the most recent
    await cache.get(2);   // 1 goes
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fetched, [0, 1, 2]);
    assert.deepEqual(closed, [1]);
    cache.prefetch(0, 3);  // 0 and 2 cached; 1 fetched again
    await cache.get(1);
    assert.deepEqual(fetched, [0, 1, 2, 1]);
    await assert.rejects(cache.get(9));
    await new Promise((r) => setImmediate(r));
    assert.equal(/** @type {any} */ (await cache.get(9)).k, 9, "fetched again after the failure");
  } finally {
    globalThis.createImageBitmap = original;
  }
});

test("the export's file name: the server's when it gives one, else the video's name and the format", () => {
  assert.equal(exportFileName('attachment; filename="clip_coco.json"', "x.webm", "coco"), "clip_coco.json");
  assert.equal(exportFileName("attachment; filename*=UTF-8''caf%C3%A9_masks.zip", "x.webm", "png-zip"), "café_masks.zip");
  assert.equal(exportFileName('attachment; filename="../../etc/passwd"', "x.webm", "coco"), "passwd");
  assert.equal(exportFileName(null, "street.v2.webm", "mp4"), "street.v2_masks.mp4");
  assert.equal(exportFileName("attachment", "", "png-zip"), "video_masks.zip");
});

test("a lost session is a 404 unknown_id on video_id, not another unknown id", () => {
  assert.equal(isLostSession(new ApiError(404, "unknown_id", "video_id", "gone")), true);
  assert.equal(isLostSession(new ApiError(404, "unknown_id", "image_id", "evicted")), false);
  assert.equal(isLostSession(new ApiError(422, "invalid_field", "video_id", "bad")), false);
  assert.equal(isLostSession(new Error("unknown_id")), false);
});

test("stored masks are read once per frame, a few at a time, until no longer wanted", async () => {
  let running = 0, most = 0;
  const read = async (/** @type {number} */ k) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setImmediate(r));
    running--;
    return { frame: k, objects: [] };
  };
  const seen = /** @type {number[]} */ ([]);
  await readStoredMasks(read, 11, (k) => seen.push(k), () => true);
  assert.deepEqual(seen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(most, MASK_READS);
  const stopped = /** @type {number[]} */ ([]);
  await readStoredMasks(read, 11, (k) => stopped.push(k), () => stopped.length < 2);
  assert.ok(stopped.length < 11);
});
