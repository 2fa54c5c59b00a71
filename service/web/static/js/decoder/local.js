// The page's side of in-browser decoding: starts the worker (decoder.worker.js) with the server's exported SAM 2
// decoder, loads an image's features into it once, and decodes click sets there: no request per click.
//
//   const local = await LocalDecoder.start();        // throws an Error saying why when it cannot
//   await local.loadFeatures(imageId);                 // GET /segment/features/{imageId}, once per image
//   const { mask, logits, score } = await local.decode(imageId, prompts, previousLogits, multimask);
import * as api from "../api.js";
/** @import { Prompts } from "../image/state.js" */

/** @typedef {{ mask: Uint8Array, logits: Float32Array, score: number, decodeMs: number }} LocalResult */

export class LocalDecoder {
  /**
   * The decoder, ready: WebAssembly present, the model exported by the server (GET /segment/decoder), fetched
   * (cached by the browser for good: its URL holds its weights' hash) and loaded in the worker.
   * @returns {Promise<LocalDecoder>}
   */
  static async start() {
    if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
    const info = await (await api.call("segment/decoder", { headers: api.headers() })).json();
    const model = await (await api.call(info.model, { headers: api.headers() })).arrayBuffer();
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const decoder = new LocalDecoder(worker);
    await decoder.loaded;
    decoder.optimization = (await decoder.ask({ type: "init", model }, [model])).optimization;
    return decoder;
  }

  /** @param {Worker} worker */
  constructor(worker) {
    this.worker = worker;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.waiting = new Map();
    this.nextId = 1;
    this.optimization = "";
    /** @type {{ imageId: string, ready: Promise<{ width: number, height: number }> } | null} the worker's image */
    this.features = null;
    /** @type {Promise<void>} */
    this.loaded = new Promise((resolve, reject) => {
      this.waiting.set(0, { resolve, reject });
      worker.onerror = (e) => {
        e.preventDefault();
        const error = new Error(`the decoder's worker failed: ${e.message || "it could not load"}`);
        for (const w of this.waiting.values()) w.reject(error);
        this.waiting.clear();
      };
    });
    worker.onmessage = ({ data }) => {
      const w = this.waiting.get(data.id);
      if (!w) return;
      this.waiting.delete(data.id);
      if (data.error) w.reject(new Error(data.error));
      else w.resolve(data);
    };
  }

  /** @param {Record<string, unknown>} message @param {Transferable[]} [transfer] @returns {Promise<any>} */
  ask(message, transfer = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /**
   * The image's features in the worker (fetched once; a new image replaces the last one).
   * @param {string} imageId @returns {Promise<{ width: number, height: number }>}
   */
  loadFeatures(imageId) {
    if (this.features?.imageId !== imageId) {
      const ready = (async () => {
        const body = await (await api.call(`segment/features/${encodeURIComponent(imageId)}`, { headers: api.headers() }))
          .arrayBuffer();
        return this.ask({ type: "features", key: imageId, body }, [body]);
      })();
      this.features = { imageId, ready };
      ready.catch(() => { if (this.features?.ready === ready) this.features = null; });  // may be retried
    }
    return /** @type {NonNullable<LocalDecoder["features"]>} */ (this.features).ready;
  }

  /** Whether the image's features are in the worker or on their way. @param {string | null} imageId */
  hasFeatures(imageId) {
    return imageId !== null && this.features?.imageId === imageId;
  }

  /**
   * @param {string} imageId @param {Prompts} prompts @param {Float32Array | null} maskInput  the previous mask's
   *   logits (its copy is sent) @param {boolean} multimask @returns {Promise<LocalResult>}
   */
  async decode(imageId, prompts, maskInput, multimask) {
    await this.loadFeatures(imageId);
    const plain = { points: prompts.points, labels: prompts.labels, box: prompts.box };
    return this.ask({ type: "decode", key: imageId, prompts: plain, maskInput: maskInput && maskInput.slice(), multimask });
  }

  close() {
    this.worker.terminate();
  }
}
