// An image's features as GET /segment/features/{image_id} sends them (service/image/browser_decoder.py): a
// little-endian uint32 N, an N-byte JSON header, then float16 tensors in the header's order. The browser has
// already undone the gzip content encoding. Pure functions (the worker and the unit tests use them).

/**
 * @typedef {{ name: string, shape: number[] }} TensorInfo
 * @typedef {{ image_id: string, width: number, height: number, image_size: number, dtype: string,
 *             tensors: TensorInfo[] }} FeaturesHeader
 * @typedef {{ header: FeaturesHeader, tensors: Record<string, { data: Float32Array, dims: number[] }> }} Features
 */

/** @type {Float32Array | null} float16 bit pattern -> float32 value, built on first use */
let HALF = null;

/** @param {number} h a float16 bit pattern @returns {number} */
export function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;            // zero and subnormals
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** @param {Uint16Array} halves @returns {Float32Array} */
export function halvesToFloats(halves) {
  if (!HALF) {
    HALF = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF[h] = halfToFloat(h);
  }
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = HALF[halves[i]];
  return out;
}

/** @param {ArrayBuffer} buffer @returns {Features} */
export function parseFeatures(buffer) {
  const n = new DataView(buffer).getUint32(0, true);
  /** @type {FeaturesHeader} */
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, n)));
  if (header.dtype !== "float16") throw new Error(`features in ${header.dtype}, expected float16`);
  /** @type {Features["tensors"]} */
  const tensors = {};
  let offset = 4 + n;
  for (const { name, shape } of header.tensors) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (offset + 2 * count > buffer.byteLength) throw new Error(`the features body ends inside ${name}`);
    tensors[name] = { data: halvesToFloats(new Uint16Array(buffer, offset, count)), dims: shape };
    offset += 2 * count;
  }
  return { header, tensors };
}
