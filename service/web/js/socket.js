// One video session over WebSocket /video/{session}: one message in flight, every message one reply, and a
// dropped socket reconnects and resumes the same session with "start" (the server keeps its state).
import { ApiError, errorFromBody, videoSocketUrl } from "./api.js";

const RETRY_SAME = new Set(["session_busy", "stale_state", "state_store_unavailable"]);
const RECONNECT = new Set(["draining"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Dropped extends Error {}

export class VideoSocket {
  // onEvent(kind, detail): "reconnecting" (attempt), "resumed" (started reply), "retrying" (error)
  constructor(session, { refine, onEvent = () => {} }) {
    this.session = session;
    this.refine = refine;
    this.onEvent = onEvent;
    this.ws = null;
    this.waiting = null;     // {resolve, reject} of the message in flight
    this.chain = Promise.resolve();
    this.frameIdx = -1;      // the server's index of the last frame it processed
    this.closed = false;
    this.started = null;
  }

  async open() {
    await this.connect();
    return this.started;
  }

  async connect() {
    const ws = new WebSocket(videoSocketUrl(this.session));
    ws.binaryType = "arraybuffer";
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new ApiError(0, "network", null, "the video socket could not connect"));
      ws.onclose = (e) => reject(new ApiError(0, "network", null, `the video socket closed (${e.code})`));
    });
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
    const started = await this.exchange({ type: "start", refine: this.refine, format: "rle" });
    if (started.type === "error") throw errorFromBody(0, started);
    if (this.frameIdx >= 0 && started.frame_idx < 0) {
      throw new ApiError(0, "unknown_id", "session",
        "the server no longer has this video session (it expired or its store was lost): prompt the objects again");
    }
    this.started = started;
  }

  exchange(message) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Dropped("not connected"));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      ws.send(message instanceof ArrayBuffer ? message : JSON.stringify(message));
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
        if (e.code === "unknown_id" || attempt >= 12) throw e;
        await sleep(Math.min(250 * 2 ** attempt, 5000));
      }
    }
    throw new ApiError(0, "closed", null, "the video session was closed");
  }

  // Sends a frame (ArrayBuffer) or a control message and returns its reply; errors the server asks to retry
  // are retried, a dropped socket is reconnected. A frame whose reply was lost with the socket is not sent
  // twice: the resumed session says whether it was processed ({lost: true} then).
  send(message) {
    const run = async () => {
      const isFrame = message instanceof ArrayBuffer;
      const expected = this.frameIdx + 1;
      for (let attempt = 0; ; attempt++) {
        let reply;
        try {
          reply = await this.exchange(message);
        } catch (e) {
          if (!(e instanceof Dropped) || this.closed) throw e;
          await this.reconnect();
          if (isFrame && this.started.frame_idx >= expected) {
            this.frameIdx = this.started.frame_idx;
            return { type: "frame", frame_idx: expected, objects: [], timings: {}, lost: true };
          }
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
          throw err;
        }
        if (reply.type === "frame") this.frameIdx = reply.frame_idx;
        return reply;
      }
    };
    const result = this.chain.then(run);
    this.chain = result.catch(() => {});
    return result;
  }

  // Closes the socket without deleting the session (tests use it to drop a live socket).
  drop() {
    this.ws?.close();
  }

  async close({ deleteSession = false } = {}) {
    if (deleteSession && this.ws) {
      try { await this.send({ type: "close" }); } catch { /* gone already */ }
    }
    this.closed = true;
    this.ws?.close();
  }
}
