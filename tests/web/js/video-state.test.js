import assert from "node:assert/strict";
import { test } from "node:test";

import { rateText } from "../../../service/web/static/js/video/render.js";
import { RATE_WINDOW_MS, VideoState } from "../../../service/web/static/js/video/state.js";

/** A reply object for obj_id with a 2 x 2 mask whose first `on` pixels (column-major) are set. */
function tracked(/** @type {number} */ objId, /** @type {number} */ on, visible = true) {
  return { obj_id: objId, mask: { size: /** @type {[number, number]} */ ([2, 2]), counts: [0, on, 4 - on] }, visible, area: on };
}

test("replies are kept per frame and direction; the forward session's mask wins", () => {
  const s = new VideoState();
  s.newObject(); s.newObject();
  s.record(3, "bwd", [tracked(1, 1), tracked(2, 2)]);
  s.record(3, "fwd", [tracked(1, 3)]);
  const at3 = s.objectsAt(3);
  assert.deepEqual(at3.map((o) => [o.obj_id, o.direction, o.area]), [[1, "forward", 3], [2, "backward", 2]]);
  assert.deepEqual(s.objectsAt(4), []);
});

test("masks of objects removed meanwhile are dropped; removal forgets masks and click sets", () => {
  const s = new VideoState();
  const a = s.newObject(), b = s.newObject();
  s.addPrompt(0, a, { point: [1, 1], label: 1 });
  s.addPrompt(0, b, { box: [0, 0, 1, 1] });
  s.record(0, "fwd", [tracked(a, 1), tracked(b, 1), tracked(9, 1)]);
  assert.deepEqual(s.objectsAt(0).map((o) => o.obj_id), [a, b]);
  s.removeObject(b);
  assert.deepEqual(s.objectsAt(0).map((o) => o.obj_id), [a]);
  assert.equal(s.clickSet(0, b), undefined);
  assert.equal(s.selectedId, null);
  assert.deepEqual(s.clickSet(0, a)?.points, [[1, 1]]);
});

test("a click set grows on its frame; another frame starts another", () => {
  const s = new VideoState();
  const id = s.newObject();
  s.addPrompt(2, id, { point: [1, 1], label: 1 });
  const set = s.addPrompt(2, id, { point: [2, 2], label: 0 });
  s.addPrompt(5, id, { box: [0, 0, 3, 3] });
  assert.deepEqual(set, { frame: 2, obj_id: id, points: [[1, 1], [2, 2]], labels: [1, 0], box: null });
  assert.deepEqual(s.clickSet(5, id)?.box, [0, 0, 3, 3]);
});

test("a mask is decoded once and the same array comes back", () => {
  const s = new VideoState();
  const id = s.newObject();
  s.record(0, "fwd", [tracked(id, 3)]);
  const mask = s.maskAt(0, id);
  assert.deepEqual(mask, Uint8Array.from([1, 1, 1, 0]));  // column-major runs: (0,0) (1,0) (0,1)
  assert.equal(s.maskAt(0, id), mask);
  assert.equal(s.maskAt(1, id), null);
});

test("the first frame an object was placed on stays its first", () => {
  const s = new VideoState();
  const id = s.newObject();
  assert.deepEqual(s.placedObjects(), []);
  s.placed(id, 4);
  s.placed(id, 7);
  assert.equal(s.objects.get(id)?.firstFrame, 4);
  assert.equal(s.selectedOrNew(), id);
  s.selectedId = null;
  assert.equal(s.selectedOrNew(), id + 1);
});

test("the reply rate over the last seconds, the stages of the last reply", () => {
  const s = new VideoState();
  assert.equal(s.fps, 0);
  s.noteReply({ decode: 5 }, 0, 1000);
  s.noteReply({ decode: 6 }, 1100, 1500);
  s.noteReply({ decode: 7 }, 1600, 2000);
  assert.equal(s.fps, 2);
  assert.deepEqual(s.lastTimings, { decode: 7, round_trip: 400 });
  s.noteReply({}, 2000, 1000 + RATE_WINDOW_MS + 500, true);
  assert.deepEqual(s.replyTimes, [2000, 1000 + RATE_WINDOW_MS + 500]);
  assert.deepEqual(s.lastTimings, { lost: "reply lost with the socket" });
  s.noteReply({}, 0, 1000 + RATE_WINDOW_MS + 500 + 10_000);  // the next one 10 s later: 0.1 frame/s, not 0
  assert.equal(s.replyTimes.length, 2);
  assert.equal(s.fps, 0.1);
  s.record(0, "fwd", []);
  s.record(1, "fwd", [tracked(s.newObject(), 2, false)]);
  assert.equal(s.framesWithMasks(), 0);
});

test("rates read as frames a second from 1 up, with the seconds between frames below", () => {
  assert.equal(rateText(0), "no frames yet");
  assert.equal(rateText(12.345), "12.3 frames/s");
  assert.equal(rateText(1), "1.0 frames/s");
  assert.equal(rateText(0.1), "0.10 frames/s (one every 10 s)");
  assert.equal(rateText(0.4), "0.40 frames/s (one every 2.5 s)");
  assert.equal(rateText(0.013), "0.013 frames/s (one every 77 s)");
});

test("a video draft is plain data that restores objects, click sets, every frame's masks and the frames", async () => {
  const { fromVideoDraft, toVideoDraft } = await import("../../../service/web/static/js/video/draft.js");
  const s = new VideoState();
  const a = s.newObject(), b = s.newObject();
  s.addPrompt(0, a, { point: [3, 4], label: 1 });
  s.addPrompt(0, a, { point: [5, 6], label: 0 });
  s.addPrompt(2, b, { box: [1, 1, 8, 8] });
  s.placed(a, 0);
  s.placed(b, 2);
  const rle = { size: /** @type {[number, number]} */ ([2, 2]), counts: [1, 3] };
  s.record(0, "fwd", [{ obj_id: a, mask: rle, visible: true, area: 3 }]);
  s.record(1, "bwd", [{ obj_id: b, mask: rle, visible: false, area: 0 }]);
  s.current = 1;
  s.live = 2;
  s.rename(a, "cat");
  const draft = toVideoDraft(s, { fileName: "clip.webm", fps: 5, session: "web-x", unexported: true });
  assert.deepEqual(structuredClone(draft), draft);
  const back = fromVideoDraft(structuredClone(draft));
  assert.ok(back);
  const r = back.state;
  assert.deepEqual([r.current, r.live, r.selectedId, back.draft.session, back.draft.fps], [1, 2, b, "web-x", 5]);
  assert.equal(r.objects.get(a)?.name, "cat");
  assert.deepEqual(r.clickSet(0, a)?.labels, [1, 0]);
  assert.deepEqual(r.clickSet(2, b)?.box, [1, 1, 8, 8]);
  assert.deepEqual([...(r.maskAt(0, a) ?? [])], [0, 1, 1, 1]);
  assert.deepEqual(r.objectsAt(1).map((o) => [o.obj_id, o.direction]), [[b, "backward"]]);
  assert.deepEqual(r.replayPlan(2), s.replayPlan(2));
  assert.equal(fromVideoDraft({ ...draft, version: 99 }), null);
});

test("the replay plan of a lost session: the first prompted frame and each frame's click sets", () => {
  const s = new VideoState();
  const a = s.newObject(), b = s.newObject();
  assert.deepEqual(s.replayPlan(4), { first: 5, sets: new Map() });
  s.addPrompt(3, a, { point: [1, 1], label: 1 });
  s.addPrompt(1, b, { point: [2, 2], label: 1 });
  s.addPrompt(1, a, { point: [3, 3], label: 1 });
  s.addPrompt(7, b, { point: [4, 4], label: 1 });  // after the live frame: not replayed
  const plan = s.replayPlan(4);
  assert.equal(plan.first, 1);
  assert.deepEqual([...plan.sets.keys()].sort(), [1, 3]);
  assert.deepEqual(plan.sets.get(1)?.map((set) => set.obj_id).sort(), [a, b]);
});
