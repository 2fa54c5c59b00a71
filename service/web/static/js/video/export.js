// What video mode exports: every tracked frame's masks as the sessions replied them (JSON), and the same with one
// PNG per frame and object (zip). Pure.
import { baseName, jsonBytes, maskPng, zipArchive } from "../files.js";
import { decodeRle } from "../rle.js";
/** @import { VideoState } from "./state.js" */

/**
 * What the export says of the video.
 * @typedef {{ name: string, kind: string, width: number, height: number, fps: number | null, frameCount: number }} SourceInfo
 */

/**
 * The JSON export: the video, the objects, and each tracked frame's objects as replied (with their direction).
 * @param {VideoState} state @param {SourceInfo} source @param {string | null} session the forward session's id
 */
export function exportDocument(state, source, session) {
  const frames = [...state.frames.keys()].sort((a, b) => a - b).map((frame) => ({
    frame_idx: frame, objects: state.objectsAt(frame),
  }));
  return {
    video: {
      name: source.name, kind: source.kind, width: source.width, height: source.height, fps: source.fps ?? null,
      frame_count: Number.isFinite(source.frameCount) ? source.frameCount : null, session,
    },
    objects: [...state.objects.values()].map((o) => ({ obj_id: o.id, name: o.name, first_frame: o.firstFrame })),
    frames,
  };
}

/** @typedef {ReturnType<typeof exportDocument>} VideoExport */

/** @param {number} frame @param {number} objId */
export function maskFileName(frame, objId) {
  return `frame_${String(frame).padStart(6, "0")}_obj_${objId}.png`;
}

/** @param {VideoExport} doc */
export function jsonFile(doc) {
  return { name: `${baseName(doc.video.name, "video")}_masks.json`, data: jsonBytes(doc) };
}

/** masks.json and one 8-bit gray PNG per frame and object. @param {VideoExport} doc */
export function zipFile(doc) {
  const entries = [{ name: "masks.json", data: jsonBytes(doc) }];
  for (const { frame_idx: frame, objects } of doc.frames) {
    for (const o of objects) {
      entries.push({ name: maskFileName(frame, o.obj_id), data: maskPng(decodeRle(o.mask), doc.video.width, doc.video.height) });
    }
  }
  return { name: `${baseName(doc.video.name, "video")}_masks.zip`, data: zipArchive(entries) };
}
