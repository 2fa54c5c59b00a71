// The pure parts of the two modes' requests: what goes on the wire and what an answer becomes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { requestObject, stateFrom, wantsMultimask } from "../../../service/web/static/js/image/network.js";
import { EMPTY } from "../../../service/web/static/js/image/state.js";
import { promptOf, socketStatus } from "../../../service/web/static/js/video/network.js";

const CLICK = { points: /** @type {[number, number][]} */ ([[3, 4]]), labels: [1], box: null };

test("a request object carries only the prompts given, and the last mask's logits", () => {
  assert.deepEqual(requestObject(CLICK, null), { points: [[3, 4]], labels: [1] });
  assert.deepEqual(requestObject({ ...EMPTY, box: [0, 0, 2, 2] }, "lg_1"), { box: [0, 0, 2, 2], mask_logits_id: "lg_1" });
});

test("only a lone click asks for three candidates", () => {
  assert.equal(wantsMultimask(CLICK, null), true);
  assert.equal(wantsMultimask(CLICK, "lg_1"), false);
  assert.equal(wantsMultimask({ ...CLICK, box: [0, 0, 1, 1] }, null), false);
  assert.equal(wantsMultimask({ points: [[1, 1], [2, 2]], labels: [1, 0], box: null }, null), false);
});

test("an answer becomes a state with its best-scoring candidate, decoded", () => {
  const part = {
    image_id: "img_1", roundTripMs: 12, timings_ms: { decoder: 3 },
    objects: [{ masks: [
      { mask: { size: /** @type {[number, number]} */ ([1, 2]), counts: [2] }, score: 0.2, logits_id: "lg_a" },
      { mask: { size: /** @type {[number, number]} */ ([1, 2]), counts: [1, 1] }, score: 0.7, logits_id: "lg_b" },
    ] }],
  };
  const state = stateFrom(part, CLICK, "lg_0", true);
  assert.deepEqual(state.mask, Uint8Array.from([0, 1]));
  assert.deepEqual([state.score, state.logitsId, state.usedLogitsId, state.refined], [0.7, "lg_b", "lg_0", true]);
  assert.deepEqual([state.points, state.timings, state.roundTripMs], [[[3, 4]], { decoder: 3 }, 12]);
});

test("a video click set as the protocol's prompt object", () => {
  assert.deepEqual(promptOf({ frame: 2, obj_id: 3, points: [[1, 2]], labels: [0], box: null }),
    { obj_id: 3, points: [[1, 2]], labels: [0] });
  assert.deepEqual(promptOf({ frame: 2, obj_id: 3, points: [], labels: [], box: [0, 0, 4, 4] }),
    { obj_id: 3, box: [0, 0, 4, 4] });
});

test("what a session's socket goes through, as a status line", () => {
  assert.equal(socketStatus("tracking", "reconnecting", 3), "tracking: connection lost, reconnecting (attempt 3)…");
  assert.equal(socketStatus("tracking", "resumed", { frame_idx: 7, objects: [1, 2] }),
    "tracking: reconnected; session resumed at frame 7 with objects [1,2]");
  assert.equal(socketStatus("backward tracking", "retrying", new Error("busy")), "backward tracking: busy; retrying…");
});
