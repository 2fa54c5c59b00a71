// Masks as RGBA pixels: a translucent fill and an opaque outline in the object's colour, later layers on top.
// The overlay is written with these exact pixels (no canvas compositing), so its non-transparent pixels are
// exactly the visible masks (the browser tests read them back). Pure.
/** @import { Color } from "./colors.js" */

/** Alpha of a mask's inside; its outline is opaque. */
export const FILL_ALPHA = 120;

/**
 * One mask to paint; fromX/toX limit it to a column range (the compare view's swipe).
 * @typedef {{ mask: ArrayLike<number>, color: Color, fromX?: number, toX?: number }} MaskLayer
 */

/**
 * Paints the layers, in order, into RGBA pixels of a width x height image (which it does not clear).
 * @param {Uint8ClampedArray} px @param {number} w @param {number} h @param {MaskLayer[]} layers
 */
export function paintMasks(px, w, h, layers) {
  for (const { mask, color, fromX = 0, toX = w } of layers) {
    const [r, g, b] = color;
    for (let y = 0; y < h; y++) {
      for (let x = fromX; x < toX; x++) {
        const i = y * w + x;
        if (!mask[i]) continue;
        const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
          !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w];
        const o = i * 4;
        px[o] = r; px[o + 1] = g; px[o + 2] = b; px[o + 3] = edge ? 255 : FILL_ALPHA;
      }
    }
  }
}
