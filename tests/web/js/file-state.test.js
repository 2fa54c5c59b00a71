// File mode's document: prompts and masks per frame, what a Track starts from, staleness, playback timing.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FileState, hasPixels } from "../../../service/web/static/js/file/state.js";
import { frameText, timelineCells } from "../../../service/web/static/js/file/render.js";
import { frameLayers } from "../../../service/web/static/js/frames.js";

/** @param {Partial<import("../../../service/web/static/js/file/state.js").VideoInfo>} [over] */
function video(over = {}) {
  return { video_id: "v1", frames: 6, width: 2, height: 2, fps: 10, duration_s: 0.6,
    timestamps: [0, 0.1, 0.2, 0.3, 0.4, 0.5], ...over };
}

/** One object's mask on a 2 x 2 frame whose first `on` pixels (column-major) are set. */
function mask(/** @type {number} */ id, /** @type {number} */ on, visible = true) {
  return { object_id: id, rle: { size: /** @type {[number, number]} */ ([2, 2]), counts: [0, on, 4 - on] }, score: 0.9, visible };
}

test("a prompt's answer sets that frame's masks; Track starts at the earliest frame prompted since the last one", () => {
  const s = new FileState(video(), "clip.webm");
  const a = s.newObject();
  assert.deepEqual(s.trackRequest("both"), { start_frame: null, direction: "both", end_frame: null });
  s.addPrompt(3, a, { point: [1, 1], label: 1 });
  s.recordPrompt(3, [mask(a, 2)]);
  s.addPrompt(1, a, { point: [0, 0], label: 1 });
  s.recordPrompt(1, [mask(a, 1)]);
  assert.deepEqual(s.trackRequest("forward"), { start_frame: 1, direction: "forward", end_frame: null });
  assert.deepEqual(s.promptedFrames(), [1, 3]);
  assert.deepEqual(s.maskAt(3, a), Uint8Array.from([1, 0, 1, 0]));  // column-major runs: (0,0) (1,0)
  assert.equal(s.maskAt(3, a), s.maskAt(3, a), "decoded once");
  s.trackEnded({ finished: false });
  assert.equal(s.trackRequest("both").start_frame, 1, "a stopped Track leaves the prompts pending");
  s.trackEnded({ finished: true });
  assert.equal(s.trackRequest("both").start_frame, null);
});

test("propagation lines fill the frames and the progress; a later correction makes the others stale", () => {
  const s = new FileState(video(), "clip.webm");
  const a = s.newObject();
  s.addPrompt(2, a, { box: [0, 0, 1, 1] });
  s.recordPrompt(2, [mask(a, 4)]);
  for (const [i, frame] of [2, 3, 4, 5, 1, 0].entries()) {
    s.recordLine({ frame, objects: [mask(a, 3), mask(99, 1)], done: i + 1, total: 6 });
  }
  assert.deepEqual(s.progress, { done: 6, total: 6 });
  assert.equal(s.trackedCount, 6);
  assert.deepEqual(s.objectsAt(0).map((o) => o.object_id), [a], "an object the page does not know is dropped");
  s.trackEnded({ finished: true });
  assert.equal(s.progress, null);
  assert.equal([0, 1, 2, 3, 4, 5].some((f) => s.isStale(f)), false);

  s.addPrompt(4, a, { point: [0, 1], label: 0 });  // a correction on frame 4
  s.recordPrompt(4, [mask(a, 1)]);
  assert.deepEqual([0, 1, 2, 3, 4, 5].filter((f) => s.isStale(f)), [0, 1, 2, 3, 5]);
  assert.equal(s.trackRequest("both").start_frame, 4, "re-tracked from the corrected frame");
  s.recordLine({ frame: 5, objects: [mask(a, 1)], done: 1, total: 2 });
  assert.equal(s.isStale(5), false);
  assert.equal(s.isStale(4), false);
});

test("a refused prompt's click set is put back; removing an object forgets its masks and prompts; reset keeps objects", () => {
  const s = new FileState(video(), "clip.webm");
  const a = s.newObject(), b = s.newObject();
  const kept = structuredClone(s.addPrompt(0, a, { point: [1, 1], label: 1 }));
  s.addPrompt(0, a, { point: [0, 1], label: 0 });
  s.restoreClickSet(0, a, kept);
  assert.deepEqual(s.clickSet(0, a), { frame: 0, object_id: a, points: [[1, 1]], labels: [1], box: null });
  s.restoreClickSet(0, b, undefined);
  assert.equal(s.clickSet(0, b), undefined);

  s.addPrompt(0, b, { point: [0, 0], label: 1 });
  s.recordPrompt(0, [mask(a, 1), mask(b, 2)]);
  assert.equal(s.isPlaced(b), true);
  s.removeObject(b);
  assert.deepEqual(s.objectsAt(0).map((o) => o.object_id), [a]);
  assert.equal(s.clickSet(0, b), undefined);
  assert.equal(s.selectedId, null);
  assert.equal(s.selectedOrNew(), b, "a new object when none is selected (the removed one's id is free again)");

  s.clearPrompts();
  assert.deepEqual([s.trackedCount, s.clickSets.size, s.pending.size], [0, 0, 0]);
  assert.deepEqual([...s.objects.keys()], [a, b]);
});

test("playback follows the file's own timestamps, variable frame rate included", () => {
  const s = new FileState(video({ timestamps: [0, 0.1, 0.15, 0.5, 0.55, 0.6] }), "vfr.mp4");
  assert.equal(s.frameAfter(0, 0), 0);
  assert.equal(s.frameAfter(0, 0.12), 1);
  assert.equal(s.frameAfter(0, 0.15), 2);
  assert.equal(s.frameAfter(0, 0.49), 2, "the long gap holds frame 2");
  assert.equal(s.frameAfter(2, 0.35), 3);
  assert.equal(s.frameAfter(0, 9), 5);
  const noTimes = new FileState(video({ timestamps: [] }), "x.mp4");
  assert.equal(noTimes.frameAfter(1, 0.25), 3, "the average rate when there are no per-frame times");
  assert.equal(noTimes.timeOf(3), 0.3);
  assert.equal(s.show(-4), 0);
  assert.equal(s.show(99), 5);
  assert.equal(s.show(2.4), 2);
});

test("a Track both ways counts its start frame once, though both of sam2's passes give it", () => {
  const s = new FileState(video(), "clip.webm");
  const a = s.newObject();
  s.addPrompt(2, a, { point: [0, 0], label: 1 });
  s.recordPrompt(2, [mask(a, 1)]);
  const request = s.trackRequest("both");
  assert.deepEqual([s.trackSpan(request), s.trackSpan({ ...request, direction: "forward" }),
    s.trackSpan({ ...request, direction: "backward" }), s.trackSpan({ start_frame: null, direction: "backward" })],
  [6, 4, 3, 3], "the server's default start: the earliest prompted frame");
  s.trackStarted(request);
  assert.deepEqual(s.progress, { done: 0, total: 6 });
  const frames = [2, 3, 4, 5, 2, 1, 0];  // the server's lines: forward from 2, then backward from 2
  for (const [i, frame] of frames.entries()) s.recordLine({ frame, objects: [mask(a, 1)], done: i + 1, total: 7 });
  assert.deepEqual(s.progress, { done: 6, total: 6 });
  assert.equal(s.trackEnded({ finished: true }), 6);
});

test("what the view draws: the shown frame's visible masks and labels, one timeline cell per frame", () => {
  const s = new FileState(video(), "clip.webm");
  const a = s.newObject(), b = s.newObject();
  s.addPrompt(1, a, { point: [0, 0], label: 1 });
  s.recordPrompt(1, [mask(a, 2), mask(b, 1, false)]);
  s.recordLine({ frame: 2, objects: [mask(a, 1), mask(b, 4)], done: 1, total: 5 });
  s.show(1);
  const { layers, tags } = frameLayers(s, s.video.width);
  assert.equal(layers.length, 1, "an invisible object is not drawn");
  assert.deepEqual(tags, [{ x: 0, y: 0.5, text: String(a), color: s.objects.get(a)?.color }]);
  s.toggleHidden(a);
  assert.equal(frameLayers(s, s.video.width).layers.length, 0, "nor a hidden one");

  const cells = timelineCells(s);
  assert.equal(cells.length, 6);
  assert.deepEqual(cells.map((c) => [c.tracked, c.prompted]), [[false, false], [true, true], [true, false],
    [false, false], [false, false], [false, false]]);
  assert.deepEqual(cells[2].rows.map((r) => r.row), [0, 1]);
  assert.deepEqual(cells[1].rows.map((r) => r.row), [0]);
  assert.equal(frameText(s), "frame 1 of 6 · 0.10 s · 2 tracked");
});

test("a draft keeps the document but the masks, and reads back as the same document", () => {
  const s = new FileState(video(), "clip.webm");
  const a = s.newObject(), b = s.newObject();
  s.rename(b, "bar");
  s.toggleHidden(b);
  s.addPrompt(2, a, { point: [1, 1], label: 1 });
  s.addPrompt(4, b, { box: [0, 0, 1, 1] });
  s.recordPrompt(2, [mask(a, 2)]);
  s.selectedId = a;
  s.show(4);
  const draft = structuredClone(s.toDraft());  // what IndexedDB gives back
  assert.equal(JSON.stringify(draft).includes("counts"), false, "no masks");
  const back = /** @type {FileState} */ (FileState.fromDraft(draft));
  assert.deepEqual(back.toDraft(), s.toDraft());
  assert.deepEqual([back.objects.get(b)?.name, back.objects.get(b)?.hidden], ["bar", true]);
  assert.equal(back.trackRequest("both").start_frame, 2);
  assert.equal(back.trackedCount, 0);
  assert.equal(FileState.fromDraft(null), null);
  assert.equal(FileState.fromDraft({ video: {}, clickSets: [] }), null);
});

test("an RLE has pixels when a run of ones is not empty", () => {
  assert.equal(hasPixels({ size: [2, 2], counts: [4] }), false);
  assert.equal(hasPixels({ size: [2, 2], counts: [4, 0] }), false);
  assert.equal(hasPixels({ size: [2, 2], counts: [3, 1] }), true);
  assert.equal(hasPixels({ size: [2, 2], counts: [0, 4] }), true);
  // pycocotools' strings (mask.encode of an empty 2 x 2 mask, one with its last pixel, one with its last column)
  assert.equal(hasPixels({ size: [2, 2], counts: "4" }), false);
  assert.equal(hasPixels({ size: [2, 2], counts: "31" }), true);
  assert.equal(hasPixels({ size: [2, 2], counts: "22" }), true);
});
