// Image pixels, the element a picture is drawn in, and pointer events: the one mapping between them, used by
// hit-testing (clicks and drags), the prompt layer's drawing and the timeline. Pure functions, no DOM.

/** @typedef {[number, number]} Point  x, y in image pixels */
/** @typedef {[number, number, number, number]} Box  x0, y0, x1, y1 in image pixels */
/** @typedef {{ width: number, height: number }} Size */
/** @typedef {{ left: number, top: number, width: number, height: number }} Rect  an element's box, in CSS pixels */

/** A pointer that moves further than this (CSS pixels) between down and up draws a box, not a point. */
export const DRAG_THRESHOLD_PX = 6;

/** @param {number} v @param {number} lo @param {number} hi */
export function clamp(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}

/**
 * Where a pointer at (clientX, clientY) lies in the image drawn over `rect`, clamped inside the image and rounded
 * to 1/100 pixel (what a request carries).
 * @param {Rect} rect @param {Size} image @param {number} clientX @param {number} clientY
 * @returns {Point}
 */
export function imagePoint(rect, image, clientX, clientY) {
  const x = ((clientX - rect.left) / rect.width) * image.width;
  const y = ((clientY - rect.top) / rect.height) * image.height;
  const round = (/** @type {number} */ v) => Math.round(v * 100) / 100;
  return [round(clamp(x, 0, image.width - 1)), round(clamp(y, 0, image.height - 1))];
}

/** @param {Point} a @param {Point} b @returns {Box} the box with these two corners */
export function boxFromCorners([ax, ay], [bx, by]) {
  return [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
}

/**
 * @param {{ clientX: number, clientY: number }} from @param {{ clientX: number, clientY: number }} to
 * @returns {boolean} whether the pointer moved far enough to be a drag
 */
export function isDrag(from, to) {
  return Math.hypot(to.clientX - from.clientX, to.clientY - from.clientY) > DRAG_THRESHOLD_PX;
}

/**
 * The transform from image pixels to a layer drawn at `layer` device pixels over the same box, and the size of
 * one CSS pixel in image units (for line widths and marks that keep their size on screen).
 * @param {Size} layer @param {Size} image @param {number} devicePixelRatio
 * @returns {{ sx: number, sy: number, cssPx: number }}
 */
export function layerTransform(layer, image, devicePixelRatio) {
  const sx = layer.width / image.width, sy = layer.height / image.height;
  return { sx, sy, cssPx: devicePixelRatio / sx };
}

/**
 * A size scaled down (never up) so that its longer side is at most maxSide.
 * @param {Size} size @param {number} maxSide @returns {Size}
 */
export function limitSide({ width, height }, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

/**
 * Where a label for a row-major 0/1 mask goes: its centroid, or null for an empty mask.
 * @param {ArrayLike<number>} mask @param {number} width @returns {{ x: number, y: number } | null}
 */
export function centroid(mask, width) {
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    sx += i % width;
    sy += Math.floor(i / width);
    n++;
  }
  return n ? { x: sx / n, y: sy / n } : null;
}

/**
 * The frame under a pointer on a timeline of `frameCount` equal cells drawn over `rect`.
 * @param {Rect} rect @param {number} clientX @param {number} frameCount
 */
export function timelineFrame(rect, clientX, frameCount) {
  return clamp(Math.floor(((clientX - rect.left) / rect.width) * frameCount), 0, frameCount - 1);
}
