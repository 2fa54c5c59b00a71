// File mode's requests: one video file session on the server (docs/video-files.md). The file is uploaded once
// and decoded there; the page asks for frames as JPEGs, sends each object's click set on a frame, and reads a
// propagation as NDJSON lines, one per frame, as they come (fetch + ReadableStream; aborting the fetch cancels it).
import * as api from "../api.js";
/** @import { ClickSet, Direction, FrameMask, VideoInfo } from "./state.js" */

/** Decoded frames kept for scrubbing and playback (the browser's HTTP cache keeps the JPEGs too). */
export const FRAME_CACHE_SIZE = 96;
/** Requests at a time when a reload reads the stored masks back. */
export const MASK_READS = 4;

/** Whether an error says the server no longer has the video session (expired, deleted, a restart without Redis). @param {unknown} e */
export function isLostSession(e) {
  return e instanceof api.ApiError && e.code === "unknown_id" && e.field === "video_id";
}

/**
 * A click set as POST /videos/{id}/prompts wants it: the whole set replaces what the object had on that frame
 * (points and labels only when it has points, the box when it has one). File sessions run SAM 2 alone for now:
 * no refine field.
 * @param {ClickSet} set
 * @returns {{ frame: number, object_id: number, clear_old_points: true, points?: ClickSet["points"], labels?: number[], box?: ClickSet["box"] }}
 */
export function promptBody(set) {
  /** @type {ReturnType<typeof promptBody>} */
  const body = { frame: set.frame, object_id: set.object_id, clear_old_points: true };
  if (set.points.length) {
    body.points = set.points;
    body.labels = set.labels;
  }
  if (set.box) body.box = set.box;
  return body;
}

/**
 * The JSON values of an NDJSON byte stream, one a line, as the lines complete.
 * @param {ReadableStream<BufferSource>} body @returns {AsyncGenerator<any>}
 */
export async function* ndjsonLines(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffered += value;
      const lines = buffered.split("\n");
      buffered = done ? "" : lines.pop() ?? "";
      for (const line of lines) if (line.trim()) yield JSON.parse(line);
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * One propagation line, as the stream gives it.
 * @typedef {{ frame: number, time: number, objects: FrameMask[], done: number, total: number }} FrameLine
 */
/** How a propagation ended. @typedef {{ finished: boolean, cancelled: boolean, done: number }} TrackEnd */

/**
 * Reads a propagation stream to its end: each frame's line to onLine; an error line throws.
 * @param {AsyncIterable<any>} lines @param {(line: FrameLine) => void} onLine @returns {Promise<TrackEnd>}
 */
export async function readPropagation(lines, onLine) {
  let done = 0;
  for await (const line of lines) {
    if (line.error) throw api.errorFromBody(500, line);
    if (line.finished) return { finished: true, cancelled: false, done: line.frames ?? done };
    if (line.cancelled) return { finished: false, cancelled: true, done: line.done ?? done };
    done = line.done;
    onLine(line);
  }
  // The stream closed without its last line: the server went away mid-way; what came stays.
  throw new api.ApiError(0, "network", null, `the tracking stream ended after ${done} frames`);
}

/** @param {XMLHttpRequest} xhr @returns {any} the JSON body, or null */
function xhrJson(xhr) {
  try {
    return JSON.parse(xhr.responseText);
  } catch {
    return null;
  }
}

/** One video file session on the server. */
export class FileSession {
  /** @param {VideoInfo} info */
  constructor(info) {
    this.info = info;
  }

  get id() {
    return this.info.video_id;
  }

  /**
   * Uploads a file (multipart) and opens a session on it. XMLHttpRequest, not fetch: it reports the upload's
   * progress. Rejects with the server's error (413 too large, 422 undecodable or over a limit).
   * @param {File} file @param {(fraction: number) => void} onProgress @returns {Promise<FileSession>}
   */
  static create(file, onProgress) {
    const form = new FormData();
    form.append("file", file, file.name);
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "videos");
      for (const [k, v] of Object.entries(api.headers())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
      xhr.onload = () => {
        const body = xhrJson(xhr);
        if (xhr.status >= 200 && xhr.status < 300 && body) resolve(new FileSession(body));
        else reject(api.errorFromBody(xhr.status, body || { error: { code: `http_${xhr.status}`, message: xhr.statusText } }));
      };
      xhr.onerror = () => reject(new api.ApiError(0, "network", null, "the upload failed"));
      xhr.send(form);
    });
  }

  /** @param {string} [tail] */
  path(tail = "") {
    return `videos/${encodeURIComponent(this.id)}${tail}`;
  }

  /** @param {string} tail @param {unknown} body */
  post(tail, body) {
    return api.call(this.path(tail), {
      method: "POST", headers: api.headers({ "Content-Type": "application/json" }), body: JSON.stringify(body),
    });
  }

  /** The session's description now (GET /videos/{id}; a session the server lost answers 404 unknown_id). @returns {Promise<VideoInfo>} */
  async describe() {
    return (await api.call(this.path(), { headers: api.headers() })).json();
  }

  /** The stored masks of frame k. @param {number} k @returns {Promise<{ frame: number, objects: FrameMask[] }>} */
  async masks(k) {
    return (await api.call(this.path(`/masks/${k}`), { headers: api.headers() })).json();
  }

  /** Source frame k as the server decoded it (a JPEG at the source's size). @param {number} k @returns {Promise<Blob>} */
  async frame(k) {
    return (await api.call(this.path(`/frames/${k}`), { headers: api.headers() })).blob();
  }

  /**
   * A click set on its frame: every object's mask on that frame.
   * @param {ClickSet} set @returns {Promise<{ frame: number, objects: FrameMask[] }>}
   */
  async prompt(set) {
    return (await this.post("/prompts", promptBody(set))).json();
  }

  /**
   * Propagates the prompts through the video; each frame's line to onLine as it arrives. Aborting `signal` closes
   * the stream, which cancels the propagation on the server.
   * @param {{ start_frame: number | null, direction: Direction, end_frame: number | null }} request
   * @param {(line: FrameLine) => void} onLine @param {AbortSignal} signal @returns {Promise<TrackEnd>}
   */
  async propagate(request, onLine, signal) {
    let done = 0;
    try {
      const res = await api.call(this.path("/propagate"), {
        method: "POST", headers: api.headers({ "Content-Type": "application/json" }), body: JSON.stringify(request), signal,
      });
      if (!res.body) throw new api.ApiError(0, "network", null, "the browser gave no stream to read");
      return await readPropagation(ndjsonLines(res.body), (line) => { done = line.done; onLine(line); });
    } catch (e) {
      if (signal.aborted) return { finished: false, cancelled: true, done };
      throw e;
    }
  }

  /** @param {number} objectId */
  async removeObject(objectId) {
    await api.call(this.path(`/objects/${objectId}`), { method: "DELETE", headers: api.headers() });
  }

  /** Every prompt and mask gone; the video stays. */
  async reset() {
    await this.post("/reset", {});
  }

  /** Ends the session; the server forgets the video. */
  async delete() {
    await api.call(this.path(), { method: "DELETE", headers: api.headers() });
  }

  /** @param {string} format @returns {Promise<Response>} the export's answer (read its body as a Blob) */
  exportFile(format) {
    return api.call(this.path(`/export?format=${encodeURIComponent(format)}`), { headers: api.headers() });
  }
}

/**
 * A session made again from its file, every click set replayed on its frame (each answer to onAnswer).
 * @param {File} file @param {ClickSet[]} sets
 * @param {(answer: { frame: number, objects: FrameMask[] }) => void} onAnswer @returns {Promise<FileSession>}
 */
export async function remakeSession(file, sets, onAnswer) {
  const session = await FileSession.create(file, () => {});
  for (const set of sets) onAnswer(await session.prompt(set));
  return session;
}

/**
 * Reads every frame's stored masks, a few requests at a time, each frame to onFrame as it comes.
 * @param {(k: number) => Promise<{ frame: number, objects: FrameMask[] }>} readMasks @param {number} frames
 * @param {(k: number, objects: FrameMask[]) => void} onFrame @param {() => boolean} stillWanted  false stops
 */
export async function readStoredMasks(readMasks, frames, onFrame, stillWanted) {
  let next = 0;
  const reader = async () => {
    while (next < frames && stillWanted()) {
      const k = next++;
      onFrame(k, (await readMasks(k)).objects);
    }
  };
  await Promise.all(Array.from({ length: MASK_READS }, reader));
}

/** Source frames decoded to bitmaps, fetched once each and kept while recently used. */
export class FrameCache {
  /** @param {(k: number) => Promise<Blob>} fetchFrame @param {number} [size] */
  constructor(fetchFrame, size = FRAME_CACHE_SIZE) {
    this.fetchFrame = fetchFrame;
    this.size = size;
    /** @type {Map<number, Promise<ImageBitmap>>} in order of last use */
    this.frames = new Map();
  }

  /** @param {number} k @returns {Promise<ImageBitmap>} */
  get(k) {
    let frame = this.frames.get(k);
    if (frame) {
      this.frames.delete(k);  // most recently used goes last
    } else {
      frame = this.fetchFrame(k).then((blob) => createImageBitmap(blob));
      frame.catch(() => this.frames.get(k) === frame && this.frames.delete(k));  // a failed fetch is retried
    }
    this.frames.set(k, frame);
    for (const [old, bitmap] of this.frames) {
      if (this.frames.size <= this.size) break;
      this.frames.delete(old);
      bitmap.then((b) => b.close(), () => {});
    }
    return frame;
  }

  /** Starts fetching frames [from, to) that are not cached yet. @param {number} from @param {number} to */
  prefetch(from, to) {
    for (let k = from; k < to; k++) if (!this.frames.has(k)) this.get(k).catch(() => {});
  }

  clear() {
    for (const bitmap of this.frames.values()) bitmap.then((b) => b.close(), () => {});
    this.frames.clear();
  }
}
