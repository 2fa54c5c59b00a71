// Video mode: a local file or the webcam, frames to WebSocket /video/{session} at the server's pace (one in
// flight), clicks to add or correct objects, backward tracking for files, exports. The controller: the play
// loop, stepping, prompts and removals, each through the tracking sessions, then a redraw.
import { ApiError } from "../api.js";
import { download } from "../download.js";
import { timelineFrame } from "../geometry.js";
import { DraftKeeper, keep, kept } from "../persist.js";
import { modeStage } from "../stage.js";
import { fromVideoDraft, toVideoDraft } from "./draft.js";
import { exportDocument, jsonFile, zipFile } from "./export.js";
import { TrackingSession, sessionName } from "./network.js";
import { VideoView } from "./render.js";
import { canvasJpeg, VideoSource } from "./source.js";
import { VideoState } from "./state.js";
/** @import { Box } from "../geometry.js" */
/** @import { PromptChange } from "../stage.js" */
/** @import { ModelInfo } from "../api.js" */
/** @import { VideoElements } from "./render.js" */
/** @import { Messages } from "../messages.js" */

/** The server answered a resumed socket with a new, empty session: it lost ours. @param {unknown} e */
function isLostSession(e) {
  return e instanceof ApiError && e.code === "unknown_id" && e.field === "session";
}

export class VideoMode {
  /** @param {VideoElements} el @param {Messages} messages */
  constructor(el, { notify, clearMessage }) {
    this.el = el;
    this.notify = notify;
    this.clearMessage = clearMessage;
    this.stage = modeStage(el, this);
    this.view = new VideoView(el, this.stage, {
      onSelect: (id) => { this.state.selectedId = id; this.render(); },
      onRename: (id, name) => this.state.rename(id, name),
      onHide: (id) => { this.state.toggleHidden(id); this.render(); },
      onDelete: (id) => this.removeObject(id),
    });
    /** @type {VideoSource | null} */
    this.source = null;
    this.state = new VideoState();
    /** @type {TrackingSession | null} the forward session */
    this.forward = null;
    this.playing = false;
    this.busy = false;
    /** @type {Promise<void> | null} the play loop while it runs */
    this.loop = null;
    /** @type {Promise<void>} the last openFile() */
    this.opening = Promise.resolve();
    /** @type {Box | null} the box being dragged */
    this.draft = null;
    this.refinerLoaded = false;
    /** whether masks or prompts changed since the last export (replacing the video asks first) */
    this.unexported = false;
    el.file.addEventListener("change", () => el.file.files?.[0] && this.openFile(el.file.files[0]));
    el.camera.addEventListener("click", () => this.openCamera());
    el.play.addEventListener("click", () => this.togglePlay());
    el.step.addEventListener("click", () => this.step());
    el.backward.addEventListener("click", () => this.trackBackward());
    el.newObject.addEventListener("click", () => this.newObject());
    el.exportJson.addEventListener("click", () => this.exportJson());
    el.exportZip.addEventListener("click", () => this.exportZip());
    el.timeline.addEventListener("click", (e) => this.timelineClick(e));
    /** @type {File | null} the open file (kept in the browser with the document, to reopen after a reload) */
    this.file = null;
    /** @type {Promise<void>} the last file's write */
    this.fileKept = Promise.resolve();
    // every frame's masks: written at most every 2 s while tracking runs
    this.drafts = new DraftKeeper("video", () => this.snapshot(), notify, 2000);
    this.render();
    this.restored = this.restore();
  }

  /** The document to keep: a file's (a camera's frames cannot be had again). */
  snapshot() {
    const source = this.source;
    if (!source?.isFile || !this.file) return null;
    return toVideoDraft(this.state, {
      fileName: this.file.name, fps: source.fps ?? 10, session: this.forward?.name ?? null, unexported: this.unexported,
    });
  }

  /**
   * Reopens the file, objects, prompts and masks of the last visit, and resumes its tracking session (re-created
   * from the prompts when the server no longer has it).
   */
  async restore() {
    const restored = fromVideoDraft(await this.drafts.load());
    const blob = restored && await kept("video-file");
    if (!restored || !(blob instanceof Blob) || this.source) return;
    const { state, draft } = restored;
    const file = new File([blob], draft.fileName, { type: blob.type });
    const element = document.createElement("video");
    element.playsInline = true;
    let source;
    try {
      source = await VideoSource.openFile(element, file, draft.fps);
    } catch {
      return;
    }
    if (this.source) return source.stop();  // a video was opened meanwhile
    this.source = source;
    this.file = file;
    this.state = state;
    this.unexported = draft.unexported;
    this.el.fps.value = String(draft.fps);
    this.stage.setImageSize(source);
    await this.showFileFrame(state.current);
    const n = state.objects.size;
    this.status(`Restored ${file.name} and its ${n} object${n === 1 ? "" : "s"} (tracked to frame ${state.live}) `
      + "from the last visit.");
    if (!draft.session || state.live < 0) return;
    try {
      await this.exclusive(async () => {
        this.forward = await this.openSession(/** @type {string} */ (draft.session), "tracking");
        this.el.session.textContent = this.forward.name;
        if ((this.forward.socket.started?.frame_idx ?? -1) < 0) await this.recreateSession(state.live);
        await this.showFileFrame(state.current);
      });
    } finally {
      this.render();
    }
  }

  /** @param {ModelInfo} model */
  setModel(model) {
    this.refinerLoaded = !(model.refiner === "none" || Object.values(model.modules || {}).every((on) => !on));
    // Refining every tracked frame costs several times a plain one: on by default only with a trained refiner.
    this.el.refine.checked = model.refiner === "trained";
    this.el.refine.disabled = !this.refinerLoaded;
  }

  // ------------------------------------------------------------------ sources
  async stopSource() {
    this.playing = false;  // the play loop ends at its next frame; a seek of the stopped source fails at once
    await this.forward?.close();
    this.source?.stop();
    this.source = null;
    this.state = new VideoState();
    this.forward = null;
    this.busy = false;
    this.draft = null;
    this.unexported = false;
    this.file = null;
  }

  /** Opens a video file (the file button). @param {File} file */
  openFile(file) {
    this.opening = this.openFileNow(file);  // the tests wait on it
    return this.opening;
  }

  /**
   * The new file is decoded (its first frame, in an element of its own) before anything of the current video is
   * touched: a file that cannot be decoded leaves the current video, its session and its masks as they were.
   * @param {File} file
   */
  async openFileNow(file) {
    const fps = Number(this.el.fps.value) || 10;
    const element = document.createElement("video");
    element.playsInline = true;
    let source;
    try {
      source = await VideoSource.openFile(element, file, fps);
    } catch (e) {
      this.notify(e);
      return;
    }
    if (this.hasUnsavedWork && !confirm(`Open ${file.name} instead of ${this.source?.name}? Its masks have not `
      + "been exported since they changed, and its tracking session will be closed.")) {
      source.stop();
      return;
    }
    await this.stopSource();
    this.source = source;
    this.file = file;
    // Once per file, apart from the document that is written at every change (the tests wait on it)
    this.fileKept = keep("video-file", file).catch((e) => this.drafts.fail(e));
    this.stage.setImageSize(source);
    await this.showFileFrame(0);
    this.clearMessage();
    this.el.prompts.focus();  // the keyboard shortcuts act on the video, not on the file or fps field
    this.status(`${file.name}: ${source.frameCount} frames at ${fps} fps. Click on an object to start tracking.`);
    this.render();
  }

  /** Tracked masks or prompts not exported since they changed. */
  get hasUnsavedWork() {
    return this.unexported && this.state.placedObjects().length > 0;
  }

  /** The camera instead of the current video: asked first when its masks are not exported, opened before it closes. */
  async openCamera() {
    if (this.source && !this.source.isFile) return;  // on already
    if (this.hasUnsavedWork && !confirm(`Start the camera instead of ${this.source?.name}? Its masks have not `
      + "been exported since they changed, and its tracking session will be closed.")) return;
    let camera;
    try {
      camera = await VideoSource.openCamera(this.el.video);  // the page's element: a file plays in one of its own
    } catch (e) {
      this.notify(e);
      return;
    }
    await this.stopSource();
    this.source = camera;
    this.stage.setImageSize(this.source);
    this.source.countPresentedFrames(() => this.state.presented++);
    this.status("Camera on: tracking runs; pause (space) and click to add an object.");
    try {
      await this.ensureForward(0);
    } catch (e) {
      this.notify(e);
      return;
    }
    this.play();
  }

  /** Draws the source's current frame into the picture. */
  grab() {
    this.source?.grab(this.stage.picture);
  }

  /** @param {number} frame */
  async showFileFrame(frame) {
    if (!this.source) return;
    await this.source.seek(frame);
    this.grab();
    this.state.current = frame;
    this.render();
  }

  // ------------------------------------------------------------------ sessions and frames
  /** @param {string} name @param {string} label */
  openSession(name, label) {
    return TrackingSession.open(name, { refine: this.el.refine.checked, label, onStatus: (text) => this.status(text) });
  }

  /** The forward session, started on `frame` (the frame shown) when there is none yet. @param {number} frame */
  async ensureForward(frame) {
    if (this.forward) return;
    this.forward = await this.openSession(sessionName(), "tracking");
    this.state.live = frame - 1;
    this.el.session.textContent = this.forward.name;
    if (this.source?.isFile) await this.sendForward(frame);
  }

  /** The picture (frame `frame`) to the forward session; its masks recorded. @param {number} frame */
  async sendForward(frame) {
    if (!this.forward) throw new Error("no tracking session");
    const sentAt = performance.now();
    const jpeg = await canvasJpeg(this.el.canvas);
    let reply;
    try {
      reply = await this.forward.sendFrame(jpeg);
    } catch (e) {
      if (!isLostSession(e)) throw e;
      await this.recreateSession(this.state.live);
      await this.source?.seek(frame);
      this.grab();
      reply = await this.forward.sendFrame(jpeg);
    }
    this.unexported = true;
    this.state.sent++;
    this.state.live = this.state.current = frame;
    this.state.record(frame, "fwd", reply.objects ?? []);
    this.state.noteReply(reply.timings ?? {}, sentAt, performance.now(), reply.lost);
    this.render();
    return reply;
  }

  play() {
    if (!this.source || this.playing) return this.loop;
    this.playing = true;
    this.clearMessage();
    this.render();
    this.loop = this.runLoop();
    return this.loop;
  }

  async runLoop() {
    const source = this.source;
    if (!source) return;
    const current = () => this.playing && this.source === source;  // another video opened: this loop ends
    try {
      while (current()) {
        if (!source.isFile) {
          this.grab();  // the camera's latest frame; the ones shown while the last was in flight are dropped
          await this.sendForward(this.state.live + 1);
        } else {
          const next = this.forward ? this.state.live + 1 : this.state.current;
          if (next >= source.frameCount) break;
          await source.seek(next);
          if (!current()) break;
          this.grab();
          if (!this.forward) await this.ensureForward(next);
          else await this.sendForward(next);
        }
      }
    } catch (e) {
      if (this.source === source) this.notify(e, () => this.play());
    } finally {
      if (this.source === source) {
        this.playing = false;
        this.render();
        if (source.isFile && this.state.live >= source.frameCount - 1) this.status("End of the video.");
      }
    }
  }

  pause() {
    this.playing = false;
    this.render();
  }

  togglePlay() {
    if (this.playing) this.pause();
    else this.play();
  }

  /** One frame forward (a file, paused): tracks it if a session runs, else only shows it. @param {number} [delta] */
  async step(delta = 1) {
    const source = this.source;
    if (!source || this.playing || this.busy || !source.isFile) return;
    await this.exclusive(async () => {
      const { current, live } = this.state;
      if (this.forward && delta > 0 && current === live) {
        if (live + 1 >= source.frameCount) return;
        await source.seek(live + 1);
        this.grab();
        await this.sendForward(live + 1);
      } else {
        await this.showFileFrame(Math.min(Math.max(current + delta, 0), source.frameCount - 1));
      }
    });
  }

  /** Runs one user action at a time; its error goes to the message bar. @param {() => Promise<void>} work */
  async exclusive(work) {
    this.busy = true;
    this.render();
    try {
      await work();
    } catch (e) {
      this.notify(e);
    } finally {
      this.busy = false;
      this.render();
    }
  }

  // ------------------------------------------------------------------ objects and prompts
  newObject() {
    if (!this.source) return null;
    const id = this.state.newObject();
    this.render();
    return id;
  }

  /** @param {PromptChange} change */
  async prompt(change) {
    if (!this.source) {
      this.notify(new Error("Open a video file or start the camera first."));
      return;
    }
    if (this.playing) {  // a click pauses; the prompt goes on the last frame tracked, shown once it is back
      this.pause();
      await this.loop;
    }
    if (this.busy) return;
    if (this.forward && this.state.current !== this.state.live) {
      this.notify(new Error(`Prompts go on the live frame (${this.state.live}), the last one tracked; showing it again.`));
      await this.showFileFrame(this.state.live);
      return;
    }
    await this.exclusive(async () => {
      if (this.source?.isFile && !this.forward) await this.ensureForward(this.state.current);
      if (!this.forward) return;
      const id = this.state.selectedOrNew();
      const frame = this.state.live;
      const set = this.state.addPrompt(frame, id, change);
      this.drawPromptLayer();
      let reply;
      try {
        reply = await this.forward.prompt([set]);
      } catch (e) {
        if (!isLostSession(e)) throw e;
        reply = await this.recreateSession(frame);  // its replay gives this click set too
      }
      this.unexported = true;
      this.state.placed(id, frame);
      this.state.record(frame, "fwd", reply.objects ?? []);
      this.state.lastTimings = reply.timings ?? {};
      this.clearMessage();
      this.render();
    });
  }

  /**
   * The server lost the forward session (restarted without Redis, or it expired): a new one under the same name
   * is fed the file's frames again from the first frame with a prompt up to `upTo`, each object's click sets
   * sent on the frames they were given on. Returns the reply on `upTo` (its masks). A camera's past frames are
   * gone: then the error says to prompt again.
   * @param {number} upTo @returns {Promise<import("../socket.js").VideoReply>}
   */
  async recreateSession(upTo) {
    const source = this.source, lost = this.forward;
    if (!source || !lost) throw new Error("no tracking session");
    lost.socket.close();  // not deleted: the name is reused
    this.forward = null;
    if (!source.isFile) {
      throw new Error("The server lost this tracking session (restarted without Redis?), and the camera's past "
        + "frames are gone: click the objects again.");
    }
    const plan = this.state.replayPlan(upTo);
    this.status(`The server lost the tracking session: re-creating it from frame ${plan.first} to ${upTo}…`);
    this.forward = await this.openSession(lost.name, "tracking");
    /** @type {import("../socket.js").VideoReply} */
    let last = { type: "frame", objects: [] };
    for (let frame = plan.first; frame <= upTo; frame++) {
      await source.seek(frame);
      this.grab();
      last = await this.forward.sendFrame(await canvasJpeg(this.el.canvas));
      this.state.record(frame, "fwd", last.objects ?? []);
      const sets = plan.sets.get(frame);
      if (sets) {
        last = await this.forward.prompt(sets);
        this.state.record(frame, "fwd", last.objects ?? []);
      }
      this.status(`The server lost the tracking session: re-creating it, frame ${frame} of ${plan.first}-${upTo}…`);
    }
    this.notify(new Error(`The server lost the tracking session (restarted without Redis?). It was re-created by `
      + `replaying each object's prompts on frames ${plan.first}-${upTo}; tracking goes on.`));
    return last;
  }

  /** @param {number} id */
  async removeObject(id) {
    const obj = this.state.objects.get(id);
    if (!obj) return;
    await this.exclusive(async () => {
      if (this.forward && obj.firstFrame !== null) await this.forward.remove(id);
      this.state.removeObject(id);
      this.render();
    });
  }

  removeSelected() {
    if (this.state.selectedId !== null) this.removeObject(this.state.selectedId);
  }

  // Frames before the objects' first prompts, by a second session fed the frames in reverse order: from the
  // latest first-prompt frame K down to frame 0, each object's first click set replayed on its frame. Its
  // masks fill only the frames before each object's first prompt (the forward session has the others).
  async trackBackward() {
    const source = this.source, forward = this.forward;
    if (!source || !source.isFile || !forward || this.playing) return;
    const firsts = this.state.placedObjects();
    const top = Math.max(-1, ...firsts.map((o) => o.firstFrame ?? -1));
    if (top <= 0) {
      this.notify(new Error("Nothing to track backward: no object starts after frame 0."));
      return;
    }
    const resumeAt = this.state.current;
    await this.exclusive(async () => {
      const back = await this.openSession(`${forward.name}-back`, "backward tracking");
      try {
        for (let frame = top; frame >= 0; frame--) {
          await source.seek(frame);
          this.grab();
          this.state.current = frame;
          const reply = await back.sendFrame(await canvasJpeg(this.el.canvas));
          const before = (reply.objects ?? []).filter((o) => frame < (this.state.objects.get(o.obj_id)?.firstFrame ?? -1));
          this.state.record(frame, "bwd", before);
          const starting = firsts.filter((o) => o.firstFrame === frame);
          if (starting.length) {
            await back.prompt(starting.flatMap((o) => this.state.clickSet(frame, o.id) ?? []));
          }
          this.status(`Backward tracking: frame ${frame} (from ${top} down to 0)`);
          this.render();
        }
      } finally {
        await back.close();
      }
      await this.showFileFrame(resumeAt);
      this.status(`Backward tracking done: frames 0-${top - 1} have masks for the objects that start later.`);
    });
  }

  /** @param {MouseEvent} e */
  async timelineClick(e) {
    const source = this.source;
    if (!source || !source.isFile || this.playing || this.busy) return;
    const frame = timelineFrame(this.el.timeline.getBoundingClientRect(), e.clientX, source.frameCount);
    await this.exclusive(() => this.showFileFrame(frame));
  }

  // ------------------------------------------------------------------ drawing
  render() {
    const activity = { playing: this.playing, busy: this.busy, hasSession: Boolean(this.forward) };
    this.view.render(this.state, this.source, activity, this.draft);
    this.drafts?.changed();  // (the first render comes before the keeper exists)
  }

  drawPromptLayer() {
    if (this.source) this.view.drawPromptLayer(this.state, this.draft);
  }

  /** @param {string} text */
  status(text) {
    this.el.status.textContent = text;
  }

  // ------------------------------------------------------------------ export
  exportDocument() {
    if (!this.source) return null;
    return exportDocument(this.state, this.source, this.forward?.name ?? null);
  }

  exportJson() {
    const doc = this.exportDocument();
    if (!doc) return;
    const file = jsonFile(doc);
    download(file.data, file.name, "application/json");
    this.unexported = false;
  }

  exportZip() {
    const doc = this.exportDocument();
    if (!doc) return;
    const file = zipFile(doc);
    download(file.data, file.name, "application/zip");
    this.unexported = false;
  }
}
