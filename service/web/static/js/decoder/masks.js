// What the page's decoder does around the ONNX model, as the server does it (model/prompts.py, model/sam2refiner.py):
// prompts to encoder-input pixels, the candidate kept, its logits resized to the image and thresholded. Pure.
/** @import { Prompts } from "../objects.js" */

export const LOGITS_LIMIT = 32;  // the server keeps low-res logits clamped to +-32 for the next mask prompt

/**
 * The prompts as SAM 2's prompt encoder takes them: box corners first (labels 2, 3), then the clicks, in
 * encoder-input pixels (x * size / width, y * size / height).
 * @param {Prompts} prompts @param {number} width @param {number} height @param {number} size
 * @returns {{ coords: Float32Array, labels: Float32Array, count: number }}
 */
export function promptTensors(prompts, width, height, size) {
  /** @type {number[][]} */
  const points = [];
  /** @type {number[]} */
  const labels = [];
  if (prompts.box) {
    const [x0, y0, x1, y1] = prompts.box;
    points.push([x0, y0], [x1, y1]);
    labels.push(2, 3);
  }
  prompts.points.forEach((p, i) => { points.push([p[0], p[1]]); labels.push(prompts.labels[i]); });
  const coords = new Float32Array(points.length * 2);
  points.forEach(([x, y], i) => {
    coords[2 * i] = (x / width) * size;
    coords[2 * i + 1] = (y / height) * size;
  });
  return { coords, labels: Float32Array.from(labels), count: points.length };
}

/**
 * Bilinear resize (PyTorch's align_corners=False, as SAM 2 resizes its logits) of an m x m logit map to h x w,
 * thresholded at 0: a row-major 0/1 mask.
 * @param {Float32Array} logits @param {number} m @param {number} h @param {number} w @returns {Uint8Array}
 */
export function maskFromLogits(logits, m, h, w) {
  const mask = new Uint8Array(h * w);
  const sx = m / w, sy = m / h;
  const x0 = new Int32Array(w), x1 = new Int32Array(w), fx = new Float32Array(w);
  for (let x = 0; x < w; x++) {
    const src = Math.max((x + 0.5) * sx - 0.5, 0);
    x0[x] = Math.floor(src);
    x1[x] = Math.min(x0[x] + 1, m - 1);
    fx[x] = src - x0[x];
  }
  for (let y = 0, i = 0; y < h; y++) {
    const src = Math.max((y + 0.5) * sy - 0.5, 0);
    const y0 = Math.floor(src), y1 = Math.min(y0 + 1, m - 1), fy = src - y0;
    const r0 = y0 * m, r1 = y1 * m;
    for (let x = 0; x < w; x++, i++) {
      const top = logits[r0 + x0[x]] * (1 - fx[x]) + logits[r0 + x1[x]] * fx[x];
      const bottom = logits[r1 + x0[x]] * (1 - fx[x]) + logits[r1 + x1[x]] * fx[x];
      mask[i] = top * (1 - fy) + bottom * fy > 0 ? 1 : 0;
    }
  }
  return mask;
}

/**
 * The kept candidate of a decoder run: the best-scoring of SAM 2's three when multimask (the first on a tie, as
 * the page picks among the server's), else its single mask. Logits are the candidate's own m x m map.
 * @param {{ multiLogits: Float32Array, multiIou: Float32Array, singleLogits: Float32Array, singleIou: Float32Array }} out
 * @param {boolean} multimask @param {number} m @returns {{ logits: Float32Array, score: number }}
 */
export function pickCandidate(out, multimask, m) {
  if (!multimask) return { logits: out.singleLogits.subarray(0, m * m), score: out.singleIou[0] };
  let best = 0;
  for (let k = 1; k < out.multiIou.length; k++) if (out.multiIou[k] > out.multiIou[best]) best = k;
  return { logits: out.multiLogits.subarray(best * m * m, (best + 1) * m * m), score: out.multiIou[best] };
}

/** The logits kept as the next mask prompt (a copy, clamped as the server clamps). @param {Float32Array} logits */
export function clampedLogits(logits) {
  return logits.map((v) => Math.min(LOGITS_LIMIT, Math.max(-LOGITS_LIMIT, v)));
}
