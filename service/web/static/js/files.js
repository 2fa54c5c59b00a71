// The bytes of the files the page writes: PNGs (fast-png, over fflate's zlib) and zip archives (fflate). Pure:
// no DOM, so the unit tests run them in Node. Both libraries are vendored (static/vendor, see index.html's
// import map); `npm run vendor` copies them from node_modules.
import { encode as encodePng } from "fast-png";
import { strToU8, zipSync } from "fflate";

/**
 * A row-major 0/1 mask as an 8-bit grayscale PNG (0 / 255), the same as the API's "png" format.
 * @param {ArrayLike<number>} mask @param {number} width @param {number} height @returns {Uint8Array}
 */
export function maskPng(mask, width, height) {
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = mask[i] ? 255 : 0;
  return encodePng({ width, height, data, depth: 8, channels: 1 });
}

/**
 * RGBA pixels (as a canvas' ImageData holds them) as an 8-bit RGBA PNG.
 * @param {Uint8Array | Uint8ClampedArray} rgba @param {number} width @param {number} height @returns {Uint8Array}
 */
export function rgbaPng(rgba, width, height) {
  return encodePng({ width, height, data: rgba, depth: 8, channels: 4 });
}

/** @param {unknown} value @returns {Uint8Array} UTF-8 JSON */
export function jsonBytes(value) {
  return strToU8(JSON.stringify(value));
}

/** @typedef {{ name: string, data: Uint8Array }} FileEntry */

/**
 * A zip archive of the entries, in order. PNGs are stored as they are (compressed already), the rest deflated.
 * @param {FileEntry[]} entries @returns {Uint8Array}
 */
export function zipArchive(entries) {
  /** @type {import("fflate").Zippable} */
  const files = {};
  for (const { name, data } of entries) {
    if (name in files) throw new Error(`two files named ${name} in one archive`);
    files[name] = [data, { level: name.endsWith(".png") ? 0 : 6 }];
  }
  return zipSync(files);
}

/**
 * A file name without its extension ("clip.v2.webm" -> "clip.v2"), or the fallback for none.
 * @param {string | null | undefined} name @param {string} fallback
 */
export function baseName(name, fallback) {
  return (name || fallback).replace(/\.[^.]+$/, "") || fallback;
}
