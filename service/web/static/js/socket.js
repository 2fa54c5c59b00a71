// One video session over WebSocket /video/{session}: one message in flight, every message one reply, and a
// dropped socket reconnects and resumes the same session with "start" (the server keeps its state).
import { ApiError, errorFromBody, getModel, videoSocketUrl } from "./api.js";

const RETRY_SAME = new Set(["session_busy", "stale_state", "state_store_unavailable"]);
const RECONNECT = new Set(["draining"]);
const CHANGES = new Set(["frame", "prompt", "remove", "reset"]);  // messages that carry a seq
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One object in a reply: its mask on that frame (RLE) and what the server says of it.
 * @typedef {{ obj_id: number, mask: import("./rle.js").Rle, visible: boolean, area: number, [key: string]: unknown }} TrackedObject
 */

/**
 * A server message (the fields the page reads; the protocol document has them all).
 * @typedef {object} VideoReply
 * @property {string} type  "started", "frame", "masks", "removed", "closed", "error", ...
 * @property {number} [frame_idx] @property {number | null} [last_seq] @property {number} [seq]
 * @property {TrackedObject[]} [objects]  ("started" lists the session's object ids here instead)
 * @property {Record<string, number>} [timings]
 * @property {boolean} [duplicate] @property {boolean} [lost]  set by the page: the reply was lost with the socket
 * @property {number} [obj_id]
 */

/**
 * A client message that is not a frame.
 * @typedef {{ type: string, [key: string]: unknown }} ControlMessage
 */

/** @typedef {"reconnecting" | "resumed" | "retrying"} SocketEventKind */
/** @typedef {(kind: SocketEventKind, detail: any) => void} SocketEvents  attempt, the "started" reply, the error */

class Dropped extends Error {}

/**
 * Why a socket was refused before it opened, when the reason is the API key: a refused WebSocket handshake (the
 * service answers 403 to a missing or wrong key) reaches the page as a bare close, so an HTTP call asks.
 * @returns {Promise<ApiError | null>}
 */
async function refusedForKey() {
  try {
    await getModel();
    return null;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      return new ApiError(401, "unauthorized", "authorization", "the video socket was refused: missing or wrong API key");
    }
    return null;
  }
}

export class VideoSocket {
  /** @param {string} session @param {{ refine: boolean, onEvent?: SocketEvents }} options */
  constructor(session, { refine, onEvent = () => {} }) {
    this.session = session;
    this.refine = refine;
    this.onEvent = onEvent;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {{ resolve: (reply: VideoReply) => void, reject: (error: Error) => void } | null} the message in flight */
    this.waiting = null;
    /** @type {Promise<unknown>} */
    this.chain = Promise.resolve();
    this.frameIdx = -1;      // the server's index of the last frame it processed
    this.seq = -1;           // the last sequence number used
    this.closed = false;
    /** @type {VideoReply | null} the last "started" reply */
    this.started = null;
  }

  async open() {
    await this.connect();
    return this.started;
  }

  async connect() {
    const ws = new WebSocket(videoSocketUrl(this.session));
    ws.binaryType = "arraybuffer";
    let opened = false;
    try {
      await new Promise((resolve, reject) => {
        ws.onopen = () => { opened = true; resolve(undefined); };
        ws.onerror = () => reject(new ApiError(0, "network", null, "the video socket could not connect"));
        ws.onclose = (e) => reject(e.code === 4401
          ? new ApiError(401, "unauthorized", "authorization", e.reason || "missing or wrong API key")
          : new ApiError(0, "network", null, `the video socket closed (${e.code})`));
      });
    } catch (e) {
      if (!opened && !(e instanceof ApiError && e.code === "unauthorized")) throw (await refusedForKey()) ?? e;
      throw e;
    }
    ws.onmessage = (e) => {
      const w = this.waiting;
      this.waiting = null;
      if (w) w.resolve(JSON.parse(e.data));
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      const w = this.waiting;
      this.waiting = null;
      if (w) w.reject(new Dropped("socket closed"));
    };
    this.ws = ws;
    const started = await this.exchange([{ type: "start", refine: this.refine, format: "rle" }]);
    if (started.type === "error") throw errorFromBody(0, started);
    if (started.last_seq != null) this.seq = Math.max(this.seq, started.last_seq);
    if (this.frameIdx >= 0 && (started.frame_idx ?? -1) < 0) {
      throw new ApiError(0, "unknown_id", "session",
        "the server no longer has this video session (it expired or its store was lost): prompt the objects again");
    }
    // A new socket on an existing session (the page reloaded) goes on from the server's last frame; a reconnect
    // keeps its own count (a frame whose reply was lost is resent and answered from the store).
    if (this.frameIdx < 0) this.frameIdx = started.frame_idx ?? -1;
    this.started = started;
  }

  /**
   * Sends the parts of one message (a frame's header and its bytes, or one control message): one reply.
   * @param {(ArrayBuffer | ControlMessage)[]} parts @returns {Promise<VideoReply>}
   */
  exchange(parts) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Dropped("not connected"));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      for (const part of parts) ws.send(part instanceof ArrayBuffer ? part : JSON.stringify(part));
    });
  }

  async reconnect() {
    for (let attempt = 1; !this.closed; attempt++) {
      this.onEvent("reconnecting", attempt);
      try {
        await this.connect();
        this.onEvent("resumed", this.started);
        return;
      } catch (e) {
        const code = e instanceof ApiError ? e.code : null;
        if (code === "unknown_id" || code === "unauthorized" || attempt >= 12) throw e;
        await sleep(Math.min(250 * 2 ** attempt, 5000));
      }
    }
    throw new ApiError(0, "closed", null, "the video session was closed");
  }

  /**
   * Sends a frame (JPEG bytes) or a control message and returns its reply; errors the server asks to retry are
   * retried, a dropped socket is reconnected and the message resent. Messages that change the session carry a
   * sequence number (a frame: in a {"type": "frame", seq} header just before it), so a resend after a lost reply
   * is answered from the server's store ("duplicate": true), never applied twice.
   * @param {ArrayBuffer | ControlMessage} message @returns {Promise<VideoReply>}
   */
  send(message) {
    const run = async () => {
      const isFrame = message instanceof ArrayBuffer;
      const seq = CHANGES.has(isFrame ? "frame" : message.type) ? ++this.seq : null;
      /** @type {(ArrayBuffer | ControlMessage)[]} */
      const parts = isFrame ? [{ type: "frame", seq }, message] : [seq === null ? message : { ...message, seq }];
      for (let attempt = 0; ; attempt++) {
        let reply;
        try {
          reply = await this.exchange(parts);
        } catch (e) {
          if (!(e instanceof Dropped) || this.closed) throw e;
          await this.reconnect();
          continue;
        }
        if (reply.type === "error") {
          const err = errorFromBody(0, reply);
          if (RETRY_SAME.has(err.code) && attempt < 12) {
            this.onEvent("retrying", err);
            await sleep(Math.min(250 * (attempt + 1), 1500));
            continue;
          }
          if (RECONNECT.has(err.code) && attempt < 5) {
            this.onEvent("retrying", err);
            this.ws?.close();
            await this.reconnect();
            continue;
          }
          if (err.code === "duplicate_frame" && isFrame) {
            // Applied already and its reply is gone: the session went on; this frame's masks are lost.
            return { type: "frame", frame_idx: this.frameIdx + 1, objects: [], timings: {}, lost: true };
          }
          throw err;
        }
        if (reply.duplicate && attempt === 0) {  // only a resend can have been applied before
          throw new ApiError(0, "seq_conflict", "seq", `message ${reply.seq} was applied before this tab sent it`);
        }
        if (reply.type === "frame" && reply.frame_idx !== undefined) this.frameIdx = reply.frame_idx;
        return reply;
      }
    };
    const result = this.chain.then(run);
    this.chain = result.catch(() => {});
    return result;
  }

  /** Closes the socket without deleting the session (tests use it to drop a live socket). */
  drop() {
    this.ws?.close();
  }

  /** @param {{ deleteSession?: boolean }} [options] */
  async close({ deleteSession = false } = {}) {
    if (deleteSession && this.ws) {
      try { await this.send({ type: "close" }); } catch { /* gone already */ }
    }
    this.closed = true;
    this.ws?.close();
  }
}
