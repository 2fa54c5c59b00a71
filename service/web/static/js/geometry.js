// Image pixels, the element a picture is drawn in, and pointer events: the one mapping between them, used by
// hit-testing (clicks and drags), the prompt layer's drawing and the timeline. Pure functions, no DOM.
// The picture is letterboxed: fitRect places it in the stage at its own aspect ratio, on whole device pixels;
// the stage gives that one rect to the picture, the overlay and the prompt layer alike, so a pointer's position
// in it (imagePoint) and a mark drawn through layerTransform agree with what the user sees.

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
 * Where a picture of `image` pixels is shown inside a box of `box` CSS pixels: as large as fits at the picture's
 * own aspect ratio (enlarged too: small pictures fill the stage), centred, its edges on whole device pixels (so
 * the canvases are not resampled by a fraction of a pixel). Relative to the box's top-left corner.
 * @param {Size} box @param {Size} image @param {number} devicePixelRatio
 * @returns {Rect}
 */
export function fitRect(box, image, devicePixelRatio) {
  const dpr = devicePixelRatio > 0 ? devicePixelRatio : 1;
  if (box.width <= 0 || box.height <= 0 || image.width <= 0 || image.height <= 0) {
    return { left: 0, top: 0, width: 0, height: 0 };
  }
  const scale = Math.min(box.width / image.width, box.height / image.height);
  const snap = (/** @type {number} */ v) => Math.round(v * dpr) / dpr;
  const within = (/** @type {number} */ v) => Math.floor(v * dpr) / dpr;
  // At least one device pixel each way (a 4000 x 1 strip is still a picture); never past the box.
  const width = Math.min(within(box.width), Math.max(1 / dpr, snap(image.width * scale)));
  const height = Math.min(within(box.height), Math.max(1 / dpr, snap(image.height * scale)));
  return { left: snap((box.width - width) / 2), top: snap((box.height - height) / 2), width, height };
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
