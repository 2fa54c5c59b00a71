// COCO run-length encoding as pycocotools writes it (column-major runs; counts as a list or as pycocotools'
// compressed string), and the mask statistics COCO annotations carry. Pure functions.

/** @typedef {{ size: [number, number], counts: string | number[] }} Rle  size is [height, width] */
/** @typedef {Uint8Array} Mask  row-major, one byte per pixel, 0 or 1 */

/**
 * Decodes an RLE into a row-major 0/1 mask.
 * @param {Rle} rle @returns {Mask}
 */
export function decodeRle(rle) {
  const [h, w] = rle.size;
  const counts = typeof rle.counts === "string" ? countsFromString(rle.counts) : rle.counts;
  const mask = new Uint8Array(h * w);
  let j = 0, value = 0;
  for (const run of counts) {
    if (value) {
      for (let k = j; k < j + run; k++) mask[(k % h) * w + Math.floor(k / h)] = 1;
    }
    j += run;
    value ^= 1;
  }
  return mask;
}

/**
 * pycocotools' compressed counts: 5 bits a character (offset 48), 0x20 = more characters follow, 0x10 on the
 * last character = negative; from the third count on, each is stored as the difference to the one two before.
 * @param {string} s @returns {number[]}
 */
export function countsFromString(s) {
  /** @type {number[]} */
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++;
      k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/**
 * Area and [x, y, width, height] bounding box of a row-major 0/1 mask, as COCO annotations carry them.
 * @param {ArrayLike<number>} mask @param {number} w @param {number} h
 * @returns {{ area: number, bbox: [number, number, number, number] }}
 */
export function maskStats(mask, w, h) {
  let area = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      if (!mask[i]) continue;
      area++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return { area, bbox: area ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, 0, 0] };
}

/**
 * A row-major 0/1 mask as an RLE with its counts as a list (column-major runs starting with zeros), as
 * pycocotools reads it: the masks the page decodes itself are exported like the server's.
 * @param {ArrayLike<number>} mask @param {number} h @param {number} w @returns {Rle}
 */
export function encodeRle(mask, h, w) {
  /** @type {number[]} */
  const counts = [];
  let value = 0, run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0, i = x; y < h; y++, i += w) {
      const bit = mask[i] ? 1 : 0;
      if (bit !== value) {
        counts.push(run);
        run = 0;
        value = bit;
      }
      run++;
    }
  }
  counts.push(run);
  return { size: [h, w], counts };
}
