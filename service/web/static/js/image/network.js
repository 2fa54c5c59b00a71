// Image mode's requests: one object's click set to POST /segment and its answer as a mask state. Resent as the
// service asks: with the image when its id is unknown (evicted, or another replica), without the logits when
// those are, without streaming when the service does not stream.
import * as api from "../api.js";
import { LocalDecoder } from "../decoder/local.js";
import { decodeRle, encodeRle } from "../rle.js";
/** @import { MaskState, ImageRecord } from "./state.js" */
/** @import { Prompts } from "../objects.js" */

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

/**
 * Decodes clicks in this browser when it can (SAM 2's decoder exported by the server, in a worker), on the server
 * otherwise. The first click on an image goes to the server, which encodes the image; its features then come once
 * and every later click with refine off is decoded here, with no request. With refine on the local SAM 2 mask is
 * shown at once and the server's refined mask replaces it when it arrives. Each object's local masks are chained
 * as the server chains them (the last mask's logits as the next mask prompt), so they equal /segment's
 * refine:false masks.
 */
export class Segmenter {
  /** @param {ServerSegmenter} [server] */
  constructor(server = new ServerSegmenter()) {
    this.server = server;
    /** @type {LocalDecoder | null} */
    this.local = null;
    /** why clicks are decoded on the server ("" while they are decoded here) */
    this.reason = "the in-browser decoder is starting";
    /** @type {Promise<void> | null} */
    this.starting = null;
    /** called when where clicks are decoded changes */
    this.onChange = () => {};
  }

  /** Starts the in-browser decoder once; on failure clicks stay on the server, and ``where`` says why. */
  enableLocal(start = () => LocalDecoder.start()) {
    this.starting ??= start().then(
      (decoder) => { this.local = decoder; this.reason = ""; this.onChange(); },
      (e) => this.fallBack(e),
    );
    return this.starting;
  }

  /** @param {unknown} e */
  fallBack(e) {
    this.local?.close();
    this.local = null;
    this.reason = e instanceof Error ? e.message : String(e);
    this.onChange();
  }

  /** What the page says about where its clicks are decoded. */
  get where() {
    const local = this.local, threads = local && `${local.threads} thread${local.threads === 1 ? "" : "s"}`;
    return local ? `clicks decoded in this browser (onnxruntime-web, optimisation ${local.optimization}, ${threads})`
      : `clicks decoded on the server: ${this.reason}`;
  }

  /**
   * @param {ImageRecord} image @param {Prompts} prompts @param {MaskState} prev  the object's current state
   * @param {{ refine: boolean, onPartial?: (state: MaskState) => void }} options
   * @returns {Promise<MaskState>}
   */
  async segment(image, prompts, prev, { refine, onPartial = () => {} }) {
    const t0 = performance.now();
    const local = this.local;
    const prevLogits = local && image.imageId ? await this.previousLogits(local, image.imageId, prev) : undefined;
    if (!local || prevLogits === undefined) {
      const state = await this.server.segment(image, prompts, prev.logitsId, { refine, onPartial });
      if (this.local && image.imageId) this.local.loadFeatures(image.imageId).catch(() => {});  // for the next click
      return state;
    }
    const multimask = prompts.points.length === 1 && !prompts.box && !prevLogits;
    let r;
    try {
      r = await local.decode(/** @type {string} */ (image.imageId), prompts, prevLogits, multimask);
    } catch (e) {  // the worker broke (out of memory, a failed run): this click and the next go to the server
      this.fallBack(e);
      return this.server.segment(image, prompts, prev.logitsId, { refine, onPartial });
    }
    /** @type {MaskState} */
    const sam2 = {
      ...prompts, usedLogitsId: null, refined: false, local: true, localLogits: r.logits,
      mask: r.mask, rle: encodeRle(r.mask, image.height, image.width), score: r.score,
      timings: { decoder: r.decodeMs, decoder_run: r.runMs }, roundTripMs: performance.now() - t0,
    };
    sam2.sam2 = sam2;
    if (!refine) return sam2;
    onPartial(sam2);
    const refined = await this.server.segment(image, prompts, prev.logitsId, { refine: true });
    return { ...refined, sam2, localLogits: r.logits };
  }

  /**
   * The previous mask's logits for the next local decode: null for an object's first click; those kept with a
   * local mask; for a mask the server made from its first click set, the same decoded here. undefined: the
   * features cannot be had (the server decodes).
   * @param {LocalDecoder} local @param {string} imageId @param {MaskState} prev
   * @returns {Promise<Float32Array | null | undefined>}
   */
  async previousLogits(local, imageId, prev) {
    try {
      await local.loadFeatures(imageId);
    } catch (e) {
      if (e instanceof api.ApiError && e.code === "unknown_id") return undefined;  // evicted: the server re-encodes
      this.fallBack(e);
      return undefined;
    }
    if (!prev.mask) return null;
    if (!prev.localLogits) {
      if (prev.usedLogitsId) return undefined;  // a server mask made with a mask prompt: keep to the server's chain
      const again = await local.decode(imageId, prev, null, wantsMultimask(prev, null));
      prev.localLogits = again.logits;
    }
    return prev.localLogits;
  }
}
