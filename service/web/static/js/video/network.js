// Video mode's tracking sessions on the server: a forward session fed the frames in order, and a backward one
// for the frames before the objects' first prompts. Each wraps one VideoSocket (one message in flight,
// reconnects, retries) and speaks the protocol's messages; what a socket goes through becomes a status line.
import { VideoSocket } from "../socket.js";
/** @import { ClickSet } from "./state.js" */
/** @import { SocketEventKind, VideoReply } from "../socket.js" */

/** A session id no other tab will pick. @param {string} [suffix] */
export function sessionName(suffix = "") {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  return `web-${rand[0].toString(36)}${rand[1].toString(36)}${suffix}`;
}

/**
 * A click set as the protocol's prompt object.
 * @param {ClickSet} set
 * @returns {{ obj_id: number, points?: ClickSet["points"], labels?: number[], box?: ClickSet["box"] }}
 */
export function promptOf(set) {
  /** @type {ReturnType<typeof promptOf>} */
  const p = { obj_id: set.obj_id };
  if (set.points.length) {
    p.points = set.points;
    p.labels = set.labels;
  }
  if (set.box) p.box = set.box;
  return p;
}

/**
 * The status line for what a session's socket went through.
 * @param {string} label which session ("tracking", "backward tracking") @param {SocketEventKind} kind @param {any} detail
 */
export function socketStatus(label, kind, detail) {
  if (kind === "reconnecting") return `${label}: connection lost, reconnecting (attempt ${detail})…`;
  if (kind === "resumed") return `${label}: reconnected; session resumed at frame ${detail.frame_idx} with objects [${detail.objects}]`;
  return `${label}: ${detail.message}; retrying…`;
}

export class TrackingSession {
  /** @param {VideoSocket} socket */
  constructor(socket) {
    this.socket = socket;
  }

  /**
   * Opens (or resumes) a session.
   * @param {string} name @param {{ refine: boolean, label: string, onStatus: (text: string) => void }} options
   */
  static async open(name, { refine, label, onStatus }) {
    const socket = new VideoSocket(name, { refine, onEvent: (kind, detail) => onStatus(socketStatus(label, kind, detail)) });
    await socket.open();
    return new TrackingSession(socket);
  }

  get name() {
    return this.socket.session;
  }

  /** The next frame, as JPEG bytes: its masks. @param {ArrayBuffer} jpeg @returns {Promise<VideoReply>} */
  sendFrame(jpeg) {
    return this.socket.send(jpeg);
  }

  /**
   * Click sets on the last frame the session processed (its index can run ahead of the file's frame numbers if a
   * frame was resent after a dropped socket).
   * @param {ClickSet[]} sets @returns {Promise<VideoReply>}
   */
  prompt(sets) {
    return this.socket.send({ type: "prompt", frame_idx: this.socket.frameIdx, objects: sets.map(promptOf) });
  }

  /** @param {number} objId */
  remove(objId) {
    return this.socket.send({ type: "remove", obj_id: objId });
  }

  /** Ends the session; the server forgets it. */
  close() {
    return this.socket.close({ deleteSession: true });
  }
}
