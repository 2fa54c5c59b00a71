// Object colours, shared by the overlay, the prompt layer's labels, the object lists and the timeline.

/** @typedef {[number, number, number]} Color  r, g, b in 0-255 */

/** @type {readonly Color[]} */
export const PALETTE = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128],
];

/** @param {number} index @returns {Color} */
export function colorOf(index) {
  return PALETTE[index % PALETTE.length];
}

/** @param {Color} color @param {number} [alpha] */
export function cssColor([r, g, b], alpha = 1) {
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}
