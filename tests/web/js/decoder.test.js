// The pure parts of the page's in-browser decoder: the features body, prompts in encoder pixels, the kept
// candidate, the logits resized as PyTorch resizes them (values from torch.nn.functional.interpolate), and the RLE
// local masks are exported with.
import assert from "node:assert/strict";
import { test } from "node:test";

import { halfToFloat, parseFeatures } from "../../../service/web/static/js/decoder/features.js";
import { clampedLogits, maskFromLogits, pickCandidate, promptTensors } from "../../../service/web/static/js/decoder/masks.js";
import { createSession } from "../../../service/web/static/js/decoder/session.js";
import { decodeRle, encodeRle } from "../../../service/web/static/js/rle.js";

test("float16 bit patterns become their values", () => {
  assert.deepEqual([0x0000, 0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0x7c00].map(halfToFloat),
    [0, 1, -2, 0.333251953125, 2 ** -24, 65504, Infinity]);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
});

/** The body as service/image/browser_decoder.py packs it. @param {object} header @param {number[]} halves */
function body(header, halves) {
  let text = JSON.stringify(header);
  text += " ".repeat((8 - ((text.length + 4) % 8)) % 8);
  const buffer = new ArrayBuffer(4 + text.length + 2 * halves.length);
  new DataView(buffer).setUint32(0, text.length, true);
  new Uint8Array(buffer, 4, text.length).set(new TextEncoder().encode(text));
  new Uint16Array(buffer, 4 + text.length).set(halves);
  return buffer;
}

test("a features body parses into float32 tensors with their shapes", () => {
  const header = { image_id: "img", width: 3, height: 2, image_size: 1024, dtype: "float16",
    tensors: [{ name: "a", shape: [1, 2] }, { name: "b", shape: [1, 1, 1] }] };
  const { header: h, tensors } = parseFeatures(body(header, [0x3c00, 0xc000, 0x3800]));
  assert.equal(h.image_id, "img");
  assert.deepEqual([...tensors.a.data], [1, -2]);
  assert.deepEqual(tensors.a.dims, [1, 2]);
  assert.deepEqual([...tensors.b.data], [0.5]);
  assert.throws(() => parseFeatures(body({ ...header, tensors: [{ name: "c", shape: [9] }] }, [0])), /ends inside c/);
});

test("prompts go to encoder pixels, a box's corners first with labels 2 and 3", () => {
  const { coords, labels, count } = promptTensors(
    { points: [[50, 25]], labels: [0], box: [10, 5, 90, 45] }, 100, 50, 1024);
  assert.equal(count, 3);
  assert.deepEqual([...coords], [102.4, 102.4, 921.6, 921.6, 512, 512].map(Math.fround));
  assert.deepEqual([...labels], [2, 3, 0]);
});

test("logits are resized as PyTorch's bilinear (align_corners=False) and thresholded at 0", () => {
  const logits = Float32Array.from([0, 1, -2, 3, -4, 5, -6, 7, 8]);
  // torch.nn.functional.interpolate(x, (4, 5), mode="bilinear") > 0, x = the 3 x 3 map above
  const expected = [[0, 1, 1, 0, 0], [1, 1, 0, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]].flat();
  assert.deepEqual([...maskFromLogits(logits, 3, 4, 5)], expected);
});

test("multimask keeps the best of three candidates, else the single mask", () => {
  const out = {
    multiLogits: Float32Array.from([1, 2, 3]), multiIou: Float32Array.from([0.1, 0.9, 0.9]),
    singleLogits: Float32Array.from([7]), singleIou: Float32Array.from([0.5]),
  };
  const multi = pickCandidate(out, true, 1);
  assert.equal(multi.score, Math.fround(0.9));
  assert.deepEqual([...multi.logits], [2]);  // the first of a tie
  assert.deepEqual([...pickCandidate(out, false, 1).logits], [7]);
  assert.deepEqual([...clampedLogits(Float32Array.from([-40, 3, 40]))], [-32, 3, 32]);
});

test("a mask encodes to COCO's column-major counts and back", () => {
  const small = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1]);  // 3 x 4
  assert.deepEqual(encodeRle(small, 3, 4), { size: [3, 4], counts: [2, 5, 4, 1] });
  assert.deepEqual(decodeRle(encodeRle(small, 3, 4)), small);
  assert.deepEqual(encodeRle(new Uint8Array(6).fill(1), 2, 3).counts, [0, 6]);
});

test("a decoder graph onnxruntime cannot optimise is loaded unoptimised; other failures are errors", async () => {
  /** @type {string[]} */
  const tried = [];
  /** @param {string[]} failing */
  const create = (failing) => async (/** @type {Uint8Array} */ _m, /** @type {{ graphOptimizationLevel: string }} */ o) => {
    tried.push(o.graphOptimizationLevel);
    if (failing.includes(o.graphOptimizationLevel)) throw new Error(`optimiser failed at ${o.graphOptimizationLevel}`);
    return `session ${o.graphOptimizationLevel}`;
  };
  const model = new Uint8Array(1);
  assert.deepEqual(await createSession(create([]), model), { session: "session all", optimization: "all" });
  const warned = [];
  assert.deepEqual(await createSession(create(["all"]), model, (e) => warned.push(e)),
    { session: "session disabled", optimization: "disabled" });
  assert.equal(warned.length, 1);
  await assert.rejects(createSession(create(["all", "disabled"]), model, () => {}), /optimiser failed at disabled/);
  assert.deepEqual(tried, ["all", "all", "disabled", "all", "disabled"]);
});
