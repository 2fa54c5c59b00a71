// The PNG and zip writers (fast-png, fflate), checked with Node's own zlib: the PNG's header and pixels are read
// back chunk by chunk, and the zip's entries are found through its central directory with their CRC-32s.
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32, inflateRawSync, inflateSync } from "node:zlib";

import { baseName, jsonBytes, maskPng, rgbaPng, zipArchive } from "../../../service/web/static/js/files.js";

/** @param {Uint8Array} png @returns {{ type: string, data: Buffer }[]} */
function chunks(png) {
  const buf = Buffer.from(png);
  assert.deepEqual([...buf.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const out = [];
  for (let p = 8; p < buf.length;) {
    const length = buf.readUInt32BE(p), type = buf.toString("latin1", p + 4, p + 8);
    const data = buf.subarray(p + 8, p + 8 + length);
    assert.equal(buf.readUInt32BE(p + 8 + length), crc32(buf.subarray(p + 4, p + 8 + length)), `${type} CRC`);
    out.push({ type, data });
    p += 12 + length;
  }
  return out;
}

/** A PNG's header fields and pixel bytes, read with zlib (every row must use filter "none", as fast-png writes). */
function pixels(/** @type {Uint8Array} */ png) {
  const parts = chunks(png);
  const ihdr = parts[0].data;
  const [width, height, depth, colorType] = [ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]];
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType] ?? 0;
  const raw = inflateSync(Buffer.concat(parts.filter((c) => c.type === "IDAT").map((c) => c.data)));
  const stride = width * channels;
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    assert.equal(filter, 0, "fast-png writes rows with filter 'none'");
    out.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, depth, colorType, data: out, types: parts.map((c) => c.type) };
}

test("a mask PNG is 8-bit grayscale, 0 outside and 255 inside, as the API's png format", () => {
  const mask = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1]);
  const png = pixels(maskPng(mask, 4, 3));
  assert.deepEqual([png.width, png.height, png.depth, png.colorType], [4, 3, 8, 0]);
  assert.deepEqual([...png.data], [...mask].map((v) => v * 255));
  assert.deepEqual([png.types[0], png.types.at(-1)], ["IHDR", "IEND"]);
});

test("an RGBA PNG keeps every channel", () => {
  const rgba = Uint8ClampedArray.from([255, 0, 0, 255, 0, 255, 0, 0, 1, 2, 3, 4, 250, 251, 252, 128]);
  const png = pixels(rgbaPng(rgba, 2, 2));
  assert.deepEqual([png.width, png.height, png.depth, png.colorType], [2, 2, 8, 6]);
  assert.deepEqual([...png.data], [...rgba]);
});

/** The entries of a zip, from its central directory: name, method, CRC-32 and content. @param {Uint8Array} zip */
function unzip(zip) {
  const buf = Buffer.from(zip);
  const end = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, "an end of central directory record");
  const count = buf.readUInt16LE(end + 10);
  let p = buf.readUInt32LE(end + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50);
    const method = buf.readUInt16LE(p + 10), crc = buf.readUInt32LE(p + 16), size = buf.readUInt32LE(p + 20);
    const nameLength = buf.readUInt16LE(p + 28), extra = buf.readUInt16LE(p + 30), comment = buf.readUInt16LE(p + 32);
    const name = buf.toString("utf8", p + 46, p + 46 + nameLength);
    const local = buf.readUInt32LE(p + 42);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const stored = buf.subarray(start, start + size);
    const data = method === 0 ? stored : inflateRawSync(stored);
    assert.equal(crc32(data), crc, `${name} CRC`);
    entries.push({ name, method, data });
    p += 46 + nameLength + extra + comment;
  }
  return entries;
}

test("a zip holds the entries in order: PNGs stored, the rest deflated", () => {
  const png = maskPng(new Uint8Array(64).fill(1), 8, 8);
  const json = jsonBytes({ frames: Array.from({ length: 50 }, (_, i) => ({ frame_idx: i })) });
  const entries = unzip(zipArchive([{ name: "masks.json", data: json }, { name: "frame_000001_obj_1.png", data: png }]));
  assert.deepEqual(entries.map((e) => [e.name, e.method]), [["masks.json", 8], ["frame_000001_obj_1.png", 0]]);
  assert.deepEqual(new Uint8Array(entries[0].data), json);
  assert.deepEqual(new Uint8Array(entries[1].data), png);
});

test("two entries with one name are refused", () => {
  const data = new Uint8Array(1);
  assert.throws(() => zipArchive([{ name: "a.png", data }, { name: "a.png", data }]), /two files named a.png/);
});

test("base names drop the last extension only", () => {
  assert.equal(baseName("clip.v2.webm", "video"), "clip.v2");
  assert.equal(baseName("", "video"), "video");
  assert.equal(baseName(null, "image"), "image");
});
