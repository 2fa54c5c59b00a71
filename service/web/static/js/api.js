// HTTP calls to the service (same origin), with the optional API key and readable errors.

const KEY_STORAGE = "sam2refiner.apiKey";

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

/** @param {string} key an empty key forgets it */
export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

// One random value per tab: behind several replicas the front hashes on it (X-Affinity, as the Python client
// sends), so this tab's clicks reach the replica that cached its image.
const AFFINITY = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");

/** The headers every request carries. @param {Record<string, string>} [extra] @returns {Record<string, string>} */
export function headers(extra = {}) {
  const key = apiKey();
  const all = { ...extra, "X-Affinity": AFFINITY };
  return key ? { ...all, Authorization: `Bearer ${key}` } : all;
}

/** What a person should read for an error code, and whether trying again can help. @type {Record<string, [string, boolean]>} */
const HINTS = {
  unauthorized: ["This service needs an API key: enter it at the top right.", false],
  not_ready: ["The model is still loading.", true],
  queue_full: ["The server is busy.", true],
  too_large: ["That is over the server's size limit.", false],
  refiner_not_loaded: ["No refiner is loaded on the server: switch Refine off.", false],
  session_busy: ["Another worker is advancing this video session.", true],
  stale_state: ["Another worker advanced this video session meanwhile.", true],
  seq_conflict: ["Another tab or client is sending to this video session.", false],
  session_unreadable: ["The server cannot read this video session's stored state: start a new one.", false],
  state_store_unavailable: ["The server's video state store (Redis) is down.", true],
  draining: ["The server is shutting down; reconnecting elsewhere.", true],
  unknown_id: ["The server no longer knows this id.", true],
  malformed_json: ["The request was not valid JSON.", false],
  network: ["The service cannot be reached.", true],
};

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string | null} field @param {string} message */
  constructor(status, code, field, message) {
    const hint = HINTS[code];
    super(hint ? `${hint[0]} (${message})` : message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.detail = message;
    /** whether the same request may succeed later */
    this.retryable = hint ? hint[1] : status >= 500;
  }
}

/**
 * A server error in any of the shapes the service uses: {"error": {...}} (HTTP and WebSocket) or the flat
 * {"type": "error", "code", ...} of earlier WebSocket replies.
 * @param {number} status @param {any} body @returns {ApiError}
 */
export function errorFromBody(status, body) {
  const e = (body && body.error && typeof body.error === "object") ? body.error : (body || {});
  return new ApiError(status, e.code || `http_${status}`, e.field ?? null, e.message || `HTTP ${status}`);
}

/** @param {Response} res */
async function errorFromResponse(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON (a proxy's page) */ }
  return errorFromBody(res.status, body || { error: { code: `http_${res.status}`, message: res.statusText } });
}

/** A request that answers ok, or throws an ApiError. @param {string} path @param {RequestInit} init */
export async function call(path, init) {
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", null, String(e instanceof Error ? e.message : e));
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res;
}

/**
 * The service's /v1/model answer (the fields the page reads).
 * @typedef {object} ModelInfo
 * @property {string} [config] @property {string} [config_reason] @property {number} [image_size]
 * @property {string} [device] @property {string} [dtype] @property {boolean} [ready]
 * @property {string | null} [refiner]  "trained", "random" or "none"
 * @property {Record<string, boolean>} [modules] @property {boolean} [refine_default]
 * @property {number} [max_image_pixels]  the largest image (width x height) the service decodes
 * @property {{ sam2_checkpoint?: string, sam2_source?: string, refiner_checkpoint?: string,
 *              refiner_sha256?: string, random_weights?: boolean, warning?: string }} [weights]
 */

/** @returns {Promise<ModelInfo>} */
export async function getModel() {
  return (await call("v1/model", { headers: headers() })).json();
}

/**
 * One part of a /segment answer (the whole answer when not streamed), as the page reads it.
 * @typedef {object} SegmentPart
 * @property {string} [image_id]
 * @property {{ masks: { mask: import("./rle.js").Rle, score: number, logits_id?: string }[] }[]} objects
 * @property {Record<string, number | boolean>} [timings_ms]
 * @property {"sam2" | "refined"} [stage] @property {boolean} [final]
 * @property {number} roundTripMs  added by the page: time from sending the request to this part
 */

/**
 * POST /segment. With body.stream the service may answer NDJSON parts (stage "sam2" first, "refined" last,
 * "final" on the last); each part goes to onPart as it arrives. Returns the final part.
 * @param {Record<string, unknown>} body @param {(part: SegmentPart) => void} [onPart]
 * @returns {Promise<SegmentPart>}
 */
export async function segment(body, onPart = () => {}) {
  const t0 = performance.now();
  const res = await call("segment", {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body),
  });
  const type = res.headers.get("content-type") || "";
  if (!type.includes("ndjson") || !res.body) {
    const part = await res.json();
    /** @type {SegmentPart} */
    const whole = { ...part, stage: body.refine ? "refined" : "sam2", final: true, roundTripMs: performance.now() - t0 };
    onPart(whole);
    return whole;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  /** @type {SegmentPart | null} */
  let last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffered += value;
    const lines = buffered.split("\n");
    buffered = done ? "" : lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      const part = JSON.parse(line);
      if (part.error) throw errorFromBody(500, part);
      last = { ...part, roundTripMs: performance.now() - t0 };
      onPart(/** @type {SegmentPart} */ (last));
    }
    if (done) break;
  }
  if (!last) throw new ApiError(500, "empty_stream", null, "the server's stream ended without an answer");
  return last;
}

/** @param {string} session */
export function videoSocketUrl(session) {
  const url = new URL(`video/${encodeURIComponent(session)}`, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const key = apiKey();
  if (key) url.searchParams.set("api_key", key);  // browsers cannot set headers on a WebSocket
  return url.toString();
}
