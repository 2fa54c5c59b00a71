// Image mode's requests: one object's click set to POST /segment and its answer as a mask state. Resent as the
// service asks: with the image when its id is unknown (evicted, or another replica), without the logits when
// those are, without streaming when the service does not stream.
import * as api from "../api.js";
import { decodeRle } from "../rle.js";
/** @import { MaskState, ImageRecord, Prompts } from "./state.js" */

const ATTEMPTS = 4;

/**
 * The request's object: the whole click set, plus the last mask's logits as the corrective prompt.
 * @param {Prompts} prompts @param {string | null | undefined} logitsId
 * @returns {{ points?: Prompts["points"], labels?: number[], box?: Prompts["box"], mask_logits_id?: string }}
 */
export function requestObject(prompts, logitsId) {
  /** @type {ReturnType<typeof requestObject>} */
  const object = {};
  if (prompts.points.length) {
    object.points = prompts.points;
    object.labels = prompts.labels;
  }
  if (prompts.box) object.box = prompts.box;
  if (logitsId) object.mask_logits_id = logitsId;
  return object;
}

/**
 * One click alone is ambiguous: ask for three candidates and keep the best (as SAM's demos do).
 * @param {Prompts} prompts @param {string | null | undefined} logitsId
 */
export function wantsMultimask(prompts, logitsId) {
  return prompts.points.length === 1 && !prompts.box && !logitsId;
}

/**
 * The mask state an answer gives: the best-scoring candidate of its (only) object.
 * @param {api.SegmentPart} part @param {Prompts} prompts @param {string | null | undefined} logitsId
 * @param {boolean} refined @returns {MaskState}
 */
export function stateFrom(part, prompts, logitsId, refined) {
  const candidates = part.objects[0].masks;
  const best = candidates.reduce((a, b) => (b.score > a.score ? b : a));
  return {
    ...prompts, usedLogitsId: logitsId ?? null, refined,
    mask: decodeRle(best.mask), rle: best.mask, score: best.score, logitsId: best.logits_id,
    timings: part.timings_ms, roundTripMs: part.roundTripMs,
  };
}

/** Asks the server for masks; remembers whether it streams. */
export class ServerSegmenter {
  constructor() {
    /** @type {boolean | null} null: not known yet; the first refined request finds out */
    this.streaming = null;
  }

  /**
   * @param {ImageRecord} image  its imageId is updated from the answer
   * @param {Prompts} prompts @param {string | null | undefined} logitsId
   * @param {{ refine: boolean, onPartial?: (state: MaskState) => void }} options  onPartial gets SAM 2's mask
   *   of a stream, before the refined one
   * @returns {Promise<MaskState>}
   */
  async segment(image, prompts, logitsId, { refine, onPartial = () => {} }) {
    const object = requestObject(prompts, logitsId);
    const multimask = wantsMultimask(prompts, logitsId);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      /** @type {Record<string, unknown>} */
      const body = { objects: [object], multimask, refine, format: "rle" };
      if (refine && this.streaming !== false) body.stream = true;
      if (image.imageId) body.image_id = image.imageId;
      else body.image = image.dataUrl;
      /** @type {MaskState | null} */
      let sam2Part = null;
      try {
        const final = await api.segment(body, (part) => {
          if (part.stage === "sam2" && !part.final) {
            sam2Part = stateFrom(part, prompts, logitsId, false);
            onPartial(sam2Part);
          }
        });
        if (body.stream) this.streaming = true;
        image.imageId = final.image_id ?? null;
        const state = stateFrom(final, prompts, logitsId, refine);
        state.sam2 = refine ? sam2Part : state;
        state.stream = Boolean(sam2Part);
        return state;
      } catch (e) {
        if (!(e instanceof api.ApiError)) throw e;
        if (e.code === "unknown_id" && e.field === "image_id") {
          image.imageId = null;                // evicted, or another replica: send the pixels again
        } else if (e.code === "unknown_id" && (e.field || "").endsWith("mask_logits_id")) {
          delete object.mask_logits_id;
        } else if (body.stream && e.status === 422 && (e.field || "").startsWith("stream")) {
          this.streaming = false;              // a service without progressive answers
        } else {
          throw e;
        }
      }
    }
    throw new Error("the service kept refusing this request");
  }
}
