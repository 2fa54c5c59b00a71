// The page's side of in-browser decoding: starts the worker (decoder.worker.js) with the server's exported SAM 2
// decoder, loads an image's features into it once, and decodes click sets there: no request per click.
//
//   const local = await LocalDecoder.start();        // throws an Error saying why when it cannot
//   await local.loadFeatures(imageId);                 // GET /segment/features/{imageId}, once per image
//   const { mask, logits, score } = await local.decode(imageId, prompts, previousLogits, multimask);
import * as api from "../api.js";
/** @import { Prompts } from "../objects.js" */

/** @typedef {{ mask: Uint8Array, logits: Float32Array, score: number, decodeMs: number, runMs: number }} LocalResult */

export const IMAGES_KEPT = 2;  // images whose features the worker keeps (about 16 MB each at 1024), as it does

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
    const init = await decoder.ask({ type: "init", model }, [model]);
    decoder.optimization = init.optimization;
    decoder.threads = init.threads;
    return decoder;
  }

  /** @param {Worker} worker */
  constructor(worker) {
    this.worker = worker;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.waiting = new Map();
    this.nextId = 1;
    this.optimization = "";
    this.threads = 1;  // onnxruntime-web's WebAssembly threads (more than 1 only in a cross-origin isolated page)
    /** @type {Map<string, Promise<{ width: number, height: number }>>} the worker's images, oldest first */
    this.features = new Map();
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
   * The image's features in the worker, fetched once (the worker keeps the last IMAGES_KEPT images; a failed
   * fetch may be retried).
   * @param {string} imageId @returns {Promise<{ width: number, height: number }>}
   */
  loadFeatures(imageId) {
    let ready = this.features.get(imageId);
    if (!ready) {
      const loading = (async () => {
        const res = await api.call(`segment/features/${encodeURIComponent(imageId)}`, { headers: api.headers() });
        const body = await res.arrayBuffer();
        return this.ask({ type: "features", key: imageId, body }, [body]);
      })();
      ready = loading;
      this.features.set(imageId, loading);
      while (this.features.size > IMAGES_KEPT) this.features.delete(this.features.keys().next().value ?? "");
      loading.catch(() => { if (this.features.get(imageId) === loading) this.features.delete(imageId); });
    }
    return ready;
  }

  /**
   * @param {string} imageId @param {Prompts} prompts @param {Float32Array | null} maskInput  the previous mask's
   *   logits (its copy is sent) @param {boolean} multimask @returns {Promise<LocalResult>}
   */
  async decode(imageId, prompts, maskInput, multimask) {
    const plain = { points: prompts.points, labels: prompts.labels, box: prompts.box };
    const run = async () => {
      await this.loadFeatures(imageId);
      return this.ask({ type: "decode", key: imageId, prompts: plain, maskInput: maskInput && maskInput.slice(), multimask });
    };
    try {
      return await run();
    } catch (e) {  // the worker dropped the image meanwhile (loads that finished out of order): load it again, once
      if (!(e instanceof Error && e.message.includes("features are not loaded"))) throw e;
      this.features.delete(imageId);
      return run();
    }
  }

  close() {
    this.worker.terminate();
  }
}
