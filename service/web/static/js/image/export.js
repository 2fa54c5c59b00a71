// What image mode exports: the selected object's mask PNG and cut-out PNG, and every object as a COCO JSON
// document with the server's RLE. Pure: the mode hands in pixels and gets bytes back.
import { baseName, jsonBytes, maskPng, rgbaPng } from "../files.js";
import { maskStats } from "../rle.js";
/** @import { ImageObject, ImageRecord } from "./state.js" */

/** @param {ImageRecord | null} image */
export function imageBaseName(image) {
  return baseName(image?.name, "image");
}

/**
 * The object's mask as the API's "png" format (8-bit gray, 0 / 255).
 * @param {ImageRecord} image @param {ImageObject} obj @returns {{ name: string, data: Uint8Array } | null}
 */
export function maskFile(image, obj) {
  const { mask } = obj.history[obj.at];
  if (!mask) return null;
  return { name: `${imageBaseName(image)}_${obj.id}_mask.png`, data: maskPng(mask, image.width, image.height) };
}

/**
 * The image's pixels with the object's mask as alpha: opaque inside, transparent outside.
 * @param {ImageRecord} image @param {ImageObject} obj @param {Uint8ClampedArray} rgba the image's RGBA pixels
 * @returns {{ name: string, data: Uint8Array } | null}
 */
export function cutoutFile(image, obj, rgba) {
  const { mask } = obj.history[obj.at];
  if (!mask) return null;
  const pixels = Uint8ClampedArray.from(rgba);
  for (let i = 0; i < mask.length; i++) pixels[i * 4 + 3] = mask[i] ? 255 : 0;
  return { name: `${imageBaseName(image)}_${obj.id}_cutout.png`, data: rgbaPng(pixels, image.width, image.height) };
}

/**
 * Every object with a mask as a COCO instance annotation (one image, one category), RLE as the server sent it.
 * @param {ImageRecord} image @param {ImageObject[]} objects @param {Date} [now]
 */
export function cocoDocument(image, objects, now = new Date()) {
  const { width, height, name } = image;
  const annotations = objects.flatMap((o) => {
    const state = o.history[o.at];
    if (!state.mask) return [];
    const { area, bbox } = maskStats(state.mask, width, height);
    return [{
      id: o.id, image_id: 1, category_id: 1, segmentation: state.rle, area, bbox, iscrowd: 0,
      score: state.score, name: o.name, refined: state.refined,
    }];
  });
  return {
    info: { description: "SAM2Refiner web app export", date_created: now.toISOString() },
    images: [{ id: 1, file_name: name, width, height }],
    categories: [{ id: 1, name: "object" }],
    annotations,
  };
}

/** @param {ImageRecord} image @param {ImageObject[]} objects @param {Date} [now] */
export function cocoFile(image, objects, now) {
  return { name: `${imageBaseName(image)}_coco.json`, data: jsonBytes(cocoDocument(image, objects, now)) };
}
