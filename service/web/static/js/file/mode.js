// File mode: a video file uploaded once to a video file session (POST /videos), its frames shown from the server's
// decoding at the source's size, clicks on any frame, Track through the whole file both ways (the timeline fills
// as the lines arrive), corrections re-tracked from their frame, playback at the file's own timestamps, and the
// server's exports. The controller: turns the page's events into state changes and requests, then redraws.
import { download } from "../download.js";
import { timelineFrame } from "../geometry.js";
import { DraftKeeper, keep, kept } from "../persist.js";
import { acceptFiles, modeStage } from "../stage.js";
import { EXPORT_FORMATS, exportFileName } from "./export.js";
import { FileSession, FrameCache, isLostSession, readStoredMasks, remakeSession } from "./network.js";
import { FileView } from "./render.js";
import { FileState, hasPixels } from "./state.js";
/** @import { Box } from "../geometry.js" */
/** @import { PromptChange } from "../stage.js" */
/** @import { Messages } from "../messages.js" */
/** @import { FileElements } from "./render.js" */
/** @import { Direction } from "./state.js" */
/** @import { ExportFormat } from "./export.js" */

/** Frames fetched ahead of the one playing. */
const PREFETCH = 8;

const nextPaint = () => new Promise((resolve) => requestAnimationFrame(resolve));

/** @param {File} f whether a dropped file may be a video (the server decides: FFmpeg reads more than the browser names) */
const maybeVideo = (f) => f.type.startsWith("video/") || !f.type;

export class FileMode {
  /** @param {FileElements} el @param {Messages} messages @param {{ onCamera: () => void }} options */
  constructor(el, { notify, clearMessage }, { onCamera }) {
    this.el = el;
    this.notify = notify;
    this.clearMessage = clearMessage;
    this.stage = modeStage(el, this);
    this.view = new FileView(el, this.stage, {
      onSelect: (id) => { if (this.state) this.state.selectedId = id; this.render(); },
      onRename: (id, name) => this.state?.rename(id, name),
      onHide: (id) => { this.state?.toggleHidden(id); this.render(); },
      onDelete: (id) => this.removeObject(id),
    });
    /** @type {FileState | null} */
    this.state = null;
    /** @type {FileSession | null} */
    this.session = null;
    /** @type {File | null} the file the session was made from (to make it again if the server loses it) */
    this.file = null;
    /** @type {Promise<void> | null} a lost session being made again */
    this.recreating = null;
    /** @type {FrameCache | null} */
    this.frames = null;
    /** @type {{ abort: AbortController, done: Promise<void> } | null} the running Track */
    this.tracking = null;
    this.follow = false;     // the view follows the tracked frames until the user picks one
    this.playing = false;
    this.pending = 0;        // prompts, removals and exports in flight
    /** @type {number | null} the running upload's fraction */
    this.upload = null;
    /** @type {Box | null} the box being dragged */
    this.draft = null;
    this.renderScheduled = false;
    this.showToken = 0;      // the latest frame asked for wins
    this.wanted = 0;         // that frame (arrow keys step from it while its picture is on the way)
    /** @type {Promise<unknown>} requests that change the session run one after the other, in order */
    this.queue = Promise.resolve();

    acceptFiles(el, maybeVideo, (file) => this.open(file));
    el.camera.addEventListener("click", onCamera);
    el.track.addEventListener("click", () => this.track());
    el.play.addEventListener("click", () => this.togglePlay());
    el.newObject.addEventListener("click", () => this.newObject());
    el.reset.addEventListener("click", () => this.reset());
    el.exportCoco.addEventListener("click", () => this.exportAs("coco"));
    el.exportZip.addEventListener("click", () => this.exportAs("png-zip"));
    el.exportMp4.addEventListener("click", () => this.exportAs("mp4"));
    this.attachTimeline();
    // The document is kept in the browser as it changes, the file once: a reload reopens both.
    this.drafts = new DraftKeeper("file", () => this.state?.toDraft() ?? null, (e) => this.notify(e));
    this.render();
    this.restored = this.restore();
  }

  /** The video and document of the last visit: the same session if the server still has it, else made again. */
  async restore() {
    const state = FileState.fromDraft(await this.drafts.load());
    const blob = state && await kept("file-video");
    if (!state || !(blob instanceof Blob) || this.state || this.upload !== null) return;
    const file = new File([blob], state.name, { type: blob.type });
    this.useSession(new FileSession(state.video), file);
    this.state = state;
    this.stage.setImageSize(state.video);
    await this.enqueue(async () => {
      await this.withSession((session) => session.describe());  // made again here when the server lost it
      await this.showFrame(state.current);
      await readStoredMasks((k) => this.withSession((session) => session.masks(k)), state.frameCount, (k, objects) => {
        // A frame never tracked answers every object empty and not visible: it stays untracked on the timeline.
        if (objects.some((o) => o.visible || hasPixels(o.rle))) state.recordFrame(k, objects);
        this.scheduleRender();
      }, () => state === this.state);
    });
    this.status(`Restored ${state.name} and its ${state.objects.size} objects from the last visit ` +
      `(session ${this.session?.id}).`);
  }

  // ------------------------------------------------------------------ opening a file
  /**
   * Uploads the file to a new session; only once the server has decoded it is the previous session deleted, so a
   * file it cannot read leaves the page as it was.
   * @param {File} file
   */
  async open(file) {
    if (this.upload !== null) return;
    this.upload = 0;
    this.status(`Uploading ${file.name}…`);
    this.render();
    let session;
    try {
      session = await FileSession.create(file, (fraction) => {
        this.upload = fraction;
        this.view.renderProgress(this.state, this.activity());
        if (fraction >= 1) this.status(`Decoding ${file.name} on the server…`);
      });
    } catch (e) {
      this.upload = null;
      this.status(this.state ? `${file.name} was not opened; still editing ${this.state.name}.` : "");
      this.render();
      this.notify(e);
      return;
    }
    this.upload = null;
    await this.close();
    this.useSession(session, file);
    this.state = new FileState(session.info, file.name);
    keep("file-video", file).catch((e) => this.drafts.fail(e));
    this.stage.setImageSize(session.info);
    this.clearMessage();
    await this.showFrame(0);
    const { frames, width, height, fps } = session.info;
    this.status(`${file.name}: ${frames} frames, ${width}x${height}, ${fps.toFixed(2)} frames/s. ` +
      "Click on an object on any frame, then Track.");
    this.el.prompts.focus();  // the keyboard shortcuts act on the video
  }

  /** @param {FileSession} session @param {File} file */
  useSession(session, file) {
    this.session = session;
    this.file = file;
    this.frames?.clear();
    this.frames = new FrameCache((k) => this.withSession((s) => s.frame(k)));
    this.el.session.textContent = session.id;
  }

  /**
   * Runs `call` on the session. One the server no longer knows (expired after its TTL, or a restarted server
   * without Redis) is made again from the file, with every click set replayed on its frame, and `call` runs again.
   * @template T @param {(session: FileSession) => Promise<T>} call @returns {Promise<T>}
   */
  async withSession(call) {
    const session = this.session;
    if (!session) throw new Error("no video is open");
    try {
      return await call(session);
    } catch (e) {
      if (!isLostSession(e) || !this.file) throw e;
      if (this.session === session) await (this.recreating ??= this.recreate().finally(() => { this.recreating = null; }));
      if (!this.session || this.session === session) throw e;
      return call(this.session);
    }
  }

  async recreate() {
    const { state, file } = this;
    if (!state || !file) return;
    const sets = [...state.clickSets.values()];
    this.status(`The server no longer has this video's session: uploading ${file.name} again and replaying ` +
      `${sets.length} prompts…`);
    const session = await remakeSession(file, sets, (answer) => state.recordPrompt(answer.frame, answer.objects));
    if (state !== this.state) return;
    state.video = session.info;  // the same file decoded again: only its id is new
    this.useSession(session, file);
    this.status(`Session made again (${session.id}) with ${sets.length} prompts: Track to track the video again.`);
  }

  /** Stops what runs on the current session and deletes it on the server (best effort: it expires anyway). */
  async close() {
    this.playing = false;
    await this.stopTracking();
    await this.queue;
    const old = this.session;
    this.session = null;
    this.file = null;
    this.state = null;
    this.frames?.clear();
    this.frames = null;
    this.draft = null;
    if (old) old.delete().catch((e) => console.warn("could not delete the previous video session", e));
  }

  // ------------------------------------------------------------------ frames
  /**
   * Shows a frame: its picture (fetched once, then cached), then its masks. A later call overtakes an earlier one.
   * @param {number} k
   */
  async showFrame(k) {
    const { state, frames } = this;
    if (!state || !frames) return;
    const frame = Math.min(Math.max(Math.round(k), 0), state.frameCount - 1);
    const token = ++this.showToken;
    this.wanted = frame;
    let bitmap;
    try {
      bitmap = await frames.get(frame);
    } catch (e) {
      if (token === this.showToken) this.notify(e, () => this.showFrame(frame));
      return;
    }
    if (token !== this.showToken || state !== this.state) return;
    state.show(frame);
    this.stage.picture.drawImage(bitmap, 0, 0);
    this.render();
  }

  /** A frame the user asked for (scrubbing, keys): the view stops following a running Track. @param {number} k */
  pick(k) {
    this.follow = false;
    return this.showFrame(k);
  }

  /** @param {number} delta frames forward (negative: back) */
  step(delta) {
    if (!this.state || this.playing) return;
    return this.pick(this.wanted + delta);
  }

  firstFrame() {
    return this.pick(0);
  }

  lastFrame() {
    return this.state && this.pick(this.state.frameCount - 1);
  }

  /** Click or drag on the timeline: the frame under the pointer. */
  attachTimeline() {
    const canvas = this.el.timeline;
    const at = (/** @type {PointerEvent} */ e) => {
      if (!this.state) return;
      this.pause();
      this.pick(timelineFrame(canvas.getBoundingClientRect(), e.clientX, this.state.frameCount));
    };
    canvas.addEventListener("pointerdown", (e) => { canvas.setPointerCapture(e.pointerId); at(e); });
    canvas.addEventListener("pointermove", (e) => canvas.hasPointerCapture(e.pointerId) && at(e));
  }

  // ------------------------------------------------------------------ playback
  /** Plays from the frame shown at the file's own timestamps (frames not fetched in time are skipped). */
  async play() {
    const state = this.state, frames = this.frames;
    if (!state || !frames || this.playing || this.tracking) return;
    if (state.current >= state.frameCount - 1) await this.showFrame(0);
    this.playing = true;
    this.follow = false;
    this.render();
    const start = state.current, t0 = performance.now();
    while (this.playing && state === this.state) {
      const k = state.frameAfter(start, (performance.now() - t0) / 1000);
      frames.prefetch(k + 1, Math.min(state.frameCount, k + 1 + PREFETCH));
      if (k !== state.current) await this.showFrame(k);
      if (k >= state.frameCount - 1) break;
      await nextPaint();
    }
    this.playing = false;
    this.render();
  }

  pause() {
    this.playing = false;
  }

  togglePlay() {
    if (this.playing) this.pause();
    else this.play();
  }

  // ------------------------------------------------------------------ objects and prompts
  newObject() {
    if (!this.state) return null;
    const id = this.state.newObject();
    this.render();
    return id;
  }

  /**
   * Runs a request that changes the session after those before it; its error goes to the message bar.
   * @param {(state: FileState) => Promise<void>} work
   */
  enqueue(work) {
    const { state } = this;
    if (!state) return Promise.resolve();
    this.pending++;
    this.render();
    this.queue = this.queue.then(async () => {
      try {
        if (state === this.state) await work(state);
      } catch (e) {
        this.notify(e);
      } finally {
        this.pending--;
        this.render();
      }
    });
    return this.queue;
  }

  /**
   * A click or a box on the frame shown, for the selected object (a new one if none): that frame's masks at once.
   * A click while tracking stops the Track first (what it tracked stays).
   * @param {PromptChange} change
   */
  async prompt(change) {
    if (!this.state) {
      this.notify(new Error("Open a video file first (button or drag and drop)."));
      return;
    }
    this.pause();
    await this.stopTracking();
    const state = this.state;
    if (!state) return;
    const frame = state.current, id = state.selectedOrNew();
    const before = state.clickSet(frame, id);
    const previous = before && structuredClone(before);
    const set = structuredClone(state.addPrompt(frame, id, change));  // as it is now: later clicks send theirs
    this.render();
    await this.enqueue(async () => {
      const session = this.session;
      try {
        const answer = await this.withSession((s) => s.prompt(set));
        state.recordPrompt(answer.frame, answer.objects);
      } catch (e) {
        state.restoreClickSet(frame, id, previous);  // the click did not count
        throw e;
      }
      this.clearMessage();
      if (this.session !== session) return;  // made again on the way: its status line stays
      this.status(state.trackedCount > 1
        ? `Frame ${frame} corrected: Track re-tracks from it.`
        : `Object ${id} on frame ${frame}: Track to follow it through the video.`);
    });
  }

  /** @param {number} id */
  removeObject(id) {
    const state = this.state;
    if (!state?.objects.has(id)) return;
    const placed = state.isPlaced(id);
    return this.enqueue(async () => {
      if (placed) await this.withSession((session) => session.removeObject(id));
      state.removeObject(id);
    });
  }

  removeSelected() {
    if (this.state?.selectedId != null) this.removeObject(this.state.selectedId);
  }

  /** Every prompt and mask gone on the server and here; the objects stay. */
  async reset() {
    await this.stopTracking();
    await this.enqueue(async (state) => {
      await this.withSession((session) => session.reset());
      state.clearPrompts();
      this.status("All prompts and masks cleared.");
    });
  }

  // ------------------------------------------------------------------ tracking
  /** Track: propagates from the earliest frame prompted since the last Track, in the chosen direction; or stops. */
  async track() {
    if (this.tracking) return this.stopTracking();
    const { state } = this;
    if (!state) return;
    if (!state.clickSets.size) {
      this.notify(new Error("Click on an object first: Track follows the objects prompted."));
      return;
    }
    this.pause();
    await this.queue;  // the clicks made before go first
    if (this.tracking || state !== this.state) return;
    const request = state.trackRequest(/** @type {Direction} */ (this.el.direction.value));
    const from = `${request.direction === "both" ? "both ways" : request.direction}` +
      (request.start_frame === null ? " from the first prompted frame" : ` from frame ${request.start_frame}`);
    const abort = new AbortController();
    this.follow = true;
    state.trackStarted(request);
    const done = (async () => {
      try {
        const end = await this.withSession((session) => session.propagate(request, (line) => {
          state.recordLine(line);
          if (this.follow && state === this.state) this.showFrame(line.frame);
          else this.scheduleRender();
        }, abort.signal));
        const frames = state.trackEnded(end);
        this.status(end.finished
          ? `Tracked ${frames} frames ${from}: ${state.trackedCount} of ${state.frameCount} frames have masks.`
          : `Tracking stopped after ${frames} frames; Track starts again ${from}.`);
      } catch (e) {
        state.trackEnded({ finished: false });
        this.notify(e, () => this.track());
      } finally {
        if (this.tracking?.abort === abort) this.tracking = null;
        this.follow = false;
        this.render();
      }
    })();
    this.tracking = { abort, done };
    this.clearMessage();
    this.status(`Tracking ${from}…`);
    this.render();
    await done;
  }

  /** Closes the running Track's stream (the server stops it) and waits for it to end. */
  async stopTracking() {
    const running = this.tracking;
    if (!running) return;
    running.abort.abort();
    await running.done;
  }

  // ------------------------------------------------------------------ export
  /** The server's export of every stored mask, downloaded. @param {ExportFormat} format */
  exportAs(format) {
    const name = this.state?.name ?? "video";
    this.status(`Exporting ${EXPORT_FORMATS[format].label}…`);
    return this.enqueue(async () => {
      const res = await this.withSession((session) => session.exportFile(format));
      const blob = await res.blob();
      download(blob, exportFileName(res.headers.get("content-disposition"), name, format));
      this.status(`Exported ${EXPORT_FORMATS[format].label}.`);
    });
  }

  // ------------------------------------------------------------------ drawing
  /** @returns {import("./render.js").Activity} */
  activity() {
    return { tracking: Boolean(this.tracking), playing: this.playing, busy: this.pending > 0, upload: this.upload };
  }

  render() {
    this.renderScheduled = false;
    this.view.render(this.state, this.activity(), this.draft);
    if (this.state) this.drafts.changed();
  }

  /** A render at the next frame, however many changes come before it (a stream of masks read back). */
  scheduleRender() {
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    requestAnimationFrame(() => this.renderScheduled && this.render());
  }

  drawPromptLayer() {
    if (this.state) this.view.drawPromptLayer(this.state, this.draft);
  }

  /** @param {string} text */
  status(text) {
    this.el.status.textContent = text;
  }
}
