// What file mode exports: the server writes the files (GET /videos/{id}/export) from the masks it stored, at the
// source's frame numbers, timestamps and size; the page names the download. Pure.
import { baseName } from "../files.js";

/** @typedef {"coco" | "png-zip" | "mp4"} ExportFormat */

/** Each format's button label, file suffix and MIME type. @type {Record<ExportFormat, { label: string, suffix: string, type: string }>} */
export const EXPORT_FORMATS = {
  coco: { label: "COCO JSON", suffix: "_coco.json", type: "application/json" },
  "png-zip": { label: "PNG masks (zip)", suffix: "_masks.zip", type: "application/zip" },
  mp4: { label: "MP4 with masks", suffix: "_masks.mp4", type: "video/mp4" },
};

/**
 * The download's name: the one the server gives (Content-Disposition), else the video's name and the format's
 * suffix ("clip.webm" -> "clip_coco.json").
 * @param {string | null} disposition @param {string} videoName @param {ExportFormat} format
 */
export function exportFileName(disposition, videoName, format) {
  const given = disposition?.match(/filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i);
  if (given) {
    const name = given[1] ? decodeURIComponent(given[1]) : given[2];
    const safe = name.split(/[\\/]/).pop()?.trim();
    if (safe) return safe;
  }
  return `${baseName(videoName, "video")}${EXPORT_FORMATS[format].suffix}`;
}
