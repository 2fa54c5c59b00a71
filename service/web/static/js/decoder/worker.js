// The page's decoder, in a Web Worker: SAM 2's prompt encoder + mask decoder (ONNX, exported by the server from
// the weights it runs) on onnxruntime-web's WebAssembly backend, over one image's features at a time. Messages
// (each answered with the same id; errors as { id, error }):
//   { type: "init", model: ArrayBuffer }          -> { optimization, threads }  (optimization: "all", or
//                                                   "disabled" after a failure; threads: onnxruntime's)
//   { type: "features", key, body: ArrayBuffer }  -> { width, height }   the /segment/features body, gzip undone
//                                                   (the last two images are kept)
//   { type: "decode", key, prompts, maskInput, multimask } -> { mask, logits, score, decodeMs, runMs }
//                                                   (decodeMs: the whole decode; runMs: onnxruntime's run in it)
// A module worker has no import map: onnxruntime-web is imported by its vendored path.
import { parseFeatures } from "./features.js";
import { clampedLogits, maskFromLogits, pickCandidate, promptTensors } from "./masks.js";
import { createSession } from "./session.js";
/** @import { Prompts } from "../objects.js" */

const VENDOR = new URL("../../vendor/onnxruntime-web/", import.meta.url).href;
/** @type {typeof import("onnxruntime-web")} */
const ort = await import(`${VENDOR}ort.wasm.bundle.min.mjs`);
ort.env.wasm.wasmPaths = { wasm: `${VENDOR}ort-wasm-simd-threaded.wasm` };  // its loader is in the bundle
// Threads need shared memory, which only a cross-origin isolated page has (service/web/router.py sends its
// headers): then half the cores, at most 4, as onnxruntime-web's own default (the page and often the service
// share the machine; on 2 busy cores 2 threads measured slower than 1: docs/benchmarks.md).
const THREADS = globalThis.crossOriginIsolated ? Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2)) : 1;
ort.env.wasm.numThreads = THREADS;

const scope = /** @type {{ postMessage(m: unknown, t?: Transferable[]): void, onmessage: ((e: MessageEvent) => void) | null }} */ (
  /** @type {unknown} */ (globalThis));

/** @type {import("onnxruntime-web").InferenceSession | null} */
let session = null;
/**
 * The images' features, oldest first (as many as the page keeps: it asks for an image again once it dropped it).
 * @type {Map<string, { width: number, height: number, size: number, m: number,
 *                      inputs: Record<string, import("onnxruntime-web").Tensor> }>}
 */
const images = new Map();
const IMAGES_KEPT = 2;  // local.js IMAGES_KEPT

/** @param {ArrayBuffer} model */
async function init(model) {
  const warn = (/** @type {unknown} */ e) =>
    console.warn("onnxruntime could not optimise the decoder graph; running it unoptimised:", e);
  const created = await createSession((bytes, options) => ort.InferenceSession.create(bytes, options),
    new Uint8Array(model), warn);
  session = created.session;
  return { optimization: created.optimization, threads: THREADS };
}

/** @param {string} key @param {ArrayBuffer} body */
function setFeatures(key, body) {
  const { header, tensors } = parseFeatures(body);
  /** @type {Record<string, import("onnxruntime-web").Tensor>} */
  const inputs = {};
  for (const [name, t] of Object.entries(tensors)) inputs[name] = new ort.Tensor("float32", t.data, t.dims);
  const m = tensors.high_res_0.dims[3];
  inputs.no_mask = new ort.Tensor("float32", new Float32Array(m * m), [1, 1, m, m]);
  images.delete(key);
  images.set(key, { width: header.width, height: header.height, size: header.image_size, m, inputs });
  while (images.size > IMAGES_KEPT) images.delete(images.keys().next().value ?? "");
  return { width: header.width, height: header.height };
}

/**
 * @param {string} key @param {Prompts} prompts @param {Float32Array | null} maskInput the previous mask's logits
 * @param {boolean} multimask
 */
async function decode(key, prompts, maskInput, multimask) {
  if (!session) throw new Error("the decoder is not loaded");
  const image = images.get(key);
  if (!image) throw new Error("this image's features are not loaded");
  const t0 = performance.now();
  const { m, inputs } = image;
  const { coords, labels, count } = promptTensors(prompts, image.width, image.height, image.size);
  const feeds = {
    image_embed: inputs.image_embed, high_res_0: inputs.high_res_0, high_res_1: inputs.high_res_1,
    point_coords: new ort.Tensor("float32", coords, [1, count, 2]),
    point_labels: new ort.Tensor("float32", labels, [1, count]),
    mask_input: maskInput ? new ort.Tensor("float32", maskInput, [1, 1, m, m]) : inputs.no_mask,
    has_mask_input: new ort.Tensor("float32", Float32Array.of(maskInput ? 1 : 0), [1]),
  };
  const t1 = performance.now();
  const out = await session.run(feeds);
  const runMs = performance.now() - t1;
  const data = (/** @type {string} */ name) => /** @type {Float32Array} */ (out[name].data);
  const chosen = pickCandidate({
    multiLogits: data("multi_logits"), multiIou: data("multi_iou"),
    singleLogits: data("single_logits"), singleIou: data("single_iou"),
  }, multimask, m);
  const mask = maskFromLogits(chosen.logits, m, image.height, image.width);
  return { mask, logits: clampedLogits(chosen.logits), score: chosen.score, decodeMs: performance.now() - t0, runMs };
}

scope.onmessage = async ({ data: msg }) => {
  try {
    if (msg.type === "init") {
      scope.postMessage({ id: msg.id, ...(await init(msg.model)) });
    } else if (msg.type === "features") {
      scope.postMessage({ id: msg.id, ...setFeatures(msg.key, msg.body) });
    } else if (msg.type === "decode") {
      const result = await decode(msg.key, msg.prompts, msg.maskInput, msg.multimask);
      scope.postMessage({ id: msg.id, ...result }, [result.mask.buffer, result.logits.buffer]);
    } else {
      throw new Error(`unknown message ${msg.type}`);
    }
  } catch (e) {
    scope.postMessage({ id: msg.id, error: e instanceof Error ? e.message : String(e) });
  }
};
scope.postMessage({ id: 0, loaded: true });
