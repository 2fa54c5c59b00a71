// Video mode: a local file or the webcam, frames to WebSocket /video/{session} at the server's pace (one in
// flight), clicks to add or correct objects, backward tracking for files, exports.
import { decodeRle } from "./rle.js";
import { attachPromptInput, centroid, colorOf, drawMasks, drawPrompts, setImageSize } from "./overlay.js";
import { download } from "./download.js";
import { jsonBytes, maskPng, zipArchive } from "./files.js";
import { renderObjectList } from "./objects.js";
import { VideoSocket } from "./socket.js";

const MAX_SIDE = 1280;        // frames are sent at most this large (the model resizes to its own size anyway)
const JPEG_QUALITY = 0.9;

function sessionName(suffix = "") {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  return `web-${rand[0].toString(36)}${rand[1].toString(36)}${suffix}`;
}

export class VideoMode {
  constructor(el, { notify, clearMessage }) {
    this.el = el;
    this.notify = notify;
    this.clearMessage = clearMessage;
    this.video = el.video;
    this.source = null;       // {kind: "file" | "camera", name, width, height, fps, frameCount, stream}
    this.reset();
    attachPromptInput(el.prompts, {
      onPoint: (p, label) => this.prompt({ point: p, label }),
      onBox: (box) => this.prompt({ box }),
      onDraft: (box) => { this.draft = box; this.drawPromptLayer(); },
    });
    el.file.addEventListener("change", () => el.file.files[0] && this.openFile(el.file.files[0]));
    el.camera.addEventListener("click", () => this.openCamera());
    el.play.addEventListener("click", () => this.togglePlay());
    el.step.addEventListener("click", () => this.step());
    el.backward.addEventListener("click", () => this.trackBackward());
    el.newObject.addEventListener("click", () => this.newObject());
    el.exportJson.addEventListener("click", () => this.exportJson());
    el.exportZip.addEventListener("click", () => this.exportZip());
    el.timeline.addEventListener("click", (e) => this.timelineClick(e));
    this.updateControls();
  }

  reset() {
    this.forward = null;      // {socket}: the tracking session
    this.frames = new Map();  // local frame -> {fwd: Map(obj_id -> reply object), bwd: Map(...)}
    this.objects = new Map(); // obj_id -> {id, color, firstFrame, name}
    this.clickSets = new Map();  // `${frame}:${obj}` -> {frame, obj_id, points, labels, box}
    this.selectedId = null;
    this.current = 0;         // local frame shown
    this.live = -1;           // local frame the forward session is at
    this.playing = false;
    this.busy = false;
    this.replyTimes = [];
    this.presented = 0;
    this.sent = 0;
    this.draft = null;
  }

  setModel(model) {
    this.refinerLoaded = !(model.refiner === "none" || Object.values(model.modules || {}).every((on) => !on));
    // Refining every tracked frame costs several times a plain one: on by default only with a trained refiner.
    this.el.refine.checked = model.refiner === "trained";
    this.el.refine.disabled = !this.refinerLoaded;
  }

  // ------------------------------------------------------------------ sources
  async stopSource() {
    this.playing = false;
    await this.forward?.socket.close({ deleteSession: true });
    this.source?.stream?.getTracks().forEach((t) => t.stop());
    this.video.srcObject = null;
    this.video.removeAttribute("src");
    this.reset();
  }

  async openFile(file) {
    await this.stopSource();
    this.video.src = URL.createObjectURL(file);
    this.video.muted = true;
    await new Promise((resolve, reject) => {
      this.video.onloadedmetadata = resolve;
      this.video.onerror = () => reject(new Error(`${file.name}: this browser cannot decode the video`));
    }).catch((e) => { this.notify(e); throw e; });
    const fps = Number(this.el.fps.value) || 10;
    this.source = { kind: "file", name: file.name, fps, frameCount: Math.max(1, Math.floor(this.video.duration * fps + 1e-6)) };
    this.sizeCanvases();
    await this.showFileFrame(0);
    this.el.prompts.focus();  // the keyboard shortcuts act on the video, not on the file or fps field
    this.status(`${file.name}: ${this.source.frameCount} frames at ${fps} fps. Click on an object to start tracking.`);
    this.render();
  }

  async openCamera() {
    await this.stopSource();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
    } catch (e) {
      this.notify(new Error(`The camera is not available: ${e.message}`));
      return;
    }
    this.video.srcObject = stream;
    this.video.muted = true;
    await this.video.play();
    this.source = { kind: "camera", name: "camera", stream, frameCount: Infinity };
    this.sizeCanvases();
    this.countPresentedFrames();
    this.status("Camera on: tracking runs; pause (space) and click to add an object.");
    try {
      await this.ensureForward(0);
    } catch (e) {
      this.notify(e);
      return;
    }
    this.play();
  }

  // Frames the camera showed, to report how many were dropped because the server was busy.
  countPresentedFrames() {
    if (!("requestVideoFrameCallback" in HTMLVideoElement.prototype)) return;
    const video = this.video, source = this.source;
    const tick = () => {
      if (this.source !== source) return;
      this.presented++;
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  }

  sizeCanvases() {
    const { videoWidth: w, videoHeight: h } = this.video;
    const scale = Math.min(1, MAX_SIDE / Math.max(w, h));
    this.source.width = Math.round(w * scale);
    this.source.height = Math.round(h * scale);
    for (const c of [this.el.canvas, this.el.overlay]) {
      c.width = this.source.width;
      c.height = this.source.height;
    }
    setImageSize(this.el.prompts, this.source.width, this.source.height);
    this.el.stage.classList.add("loaded");
  }

  async seek(frame) {
    const t = (frame + 0.5) / this.source.fps;  // the middle of the frame: no rounding onto its neighbour
    if (Math.abs(this.video.currentTime - t) > 1e-6) {
      await new Promise((resolve) => {
        this.video.addEventListener("seeked", resolve, { once: true });
        this.video.currentTime = t;
      });
    }
  }

  grab() {
    this.el.canvas.getContext("2d").drawImage(this.video, 0, 0, this.source.width, this.source.height);
  }

  async jpeg() {
    const blob = await new Promise((resolve) => this.el.canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    return blob.arrayBuffer();
  }

  async showFileFrame(frame) {
    await this.seek(frame);
    this.grab();
    this.current = frame;
    this.render();
  }

  // ------------------------------------------------------------------ sessions and frames
  socketFor(session, label) {
    return new VideoSocket(session, {
      refine: this.el.refine.checked,
      onEvent: (kind, detail) => {
        if (kind === "reconnecting") this.status(`${label}: connection lost, reconnecting (attempt ${detail})…`);
        if (kind === "resumed") this.status(`${label}: reconnected; session resumed at frame ${detail.frame_idx} with objects [${detail.objects}]`);
        if (kind === "retrying") this.status(`${label}: ${detail.message}; retrying…`);
      },
    });
  }

  // The forward session, started on `frame` (the frame shown) when there is none yet.
  async ensureForward(frame) {
    if (this.forward) return;
    const socket = this.socketFor(sessionName(), "tracking");
    await socket.open();
    this.forward = { socket };
    this.live = frame - 1;
    this.el.session.textContent = socket.session;
    if (this.source.kind === "file") await this.sendForward(frame);
  }

  async sendForward(frame) {
    const t0 = performance.now();
    const reply = await this.forward.socket.send(await this.jpeg());
    this.sent++;
    this.live = this.current = frame;
    this.record(frame, "fwd", reply.objects);
    this.noteTimings(reply, t0);
    this.render();
    return reply;
  }

  record(frame, direction, objects) {
    if (!this.frames.has(frame)) this.frames.set(frame, { fwd: new Map(), bwd: new Map() });
    const entry = this.frames.get(frame);
    for (const o of objects) {
      if (!this.objects.has(o.obj_id)) continue;  // removed meanwhile
      entry[direction].set(o.obj_id, { ...o, decoded: null });
    }
  }

  noteTimings(reply, t0) {
    const now = performance.now();
    this.replyTimes.push(now);
    this.replyTimes = this.replyTimes.filter((t) => now - t < 3000);
    this.lastTimings = { ...reply.timings, round_trip: now - t0 };
    if (reply.lost) this.lastTimings = { lost: "reply lost with the socket" };
  }

  get fps() {
    const t = this.replyTimes;
    return t.length > 1 ? ((t.length - 1) * 1000) / (t.at(-1) - t[0]) : 0;
  }

  play() {
    if (!this.source || this.playing) return this.loop;
    this.playing = true;
    this.clearMessage();
    this.updateControls();
    this.loop = this.runLoop();
    return this.loop;
  }

  async runLoop() {
    try {
      while (this.playing) {
        if (this.source.kind === "camera") {
          this.grab();  // the camera's latest frame; the ones shown while the last was in flight are dropped
          await this.sendForward(this.live + 1);
        } else {
          const next = this.forward ? this.live + 1 : this.current;
          if (next >= this.source.frameCount) break;
          await this.seek(next);
          this.grab();
          if (!this.forward) await this.ensureForward(next);
          else await this.sendForward(next);
        }
      }
    } catch (e) {
      this.notify(e, () => this.play());
    } finally {
      this.playing = false;
      this.updateControls();
      if (this.source?.kind === "file" && this.live >= this.source.frameCount - 1) this.status("End of the video.");
    }
  }

  pause() {
    this.playing = false;
    this.updateControls();
  }

  togglePlay() {
    if (this.playing) this.pause();
    else this.play();
  }

  // One frame forward (a file, paused): tracks it if a session runs, else only shows it.
  async step(delta = 1) {
    if (!this.source || this.playing || this.busy || this.source.kind !== "file") return;
    await this.exclusive(async () => {
      if (this.forward && delta > 0 && this.current === this.live) {
        const next = this.live + 1;
        if (next >= this.source.frameCount) return;
        await this.seek(next);
        this.grab();
        await this.sendForward(next);
      } else {
        const frame = Math.min(Math.max(this.current + delta, 0), this.source.frameCount - 1);
        await this.showFileFrame(frame);
      }
    });
  }

  async exclusive(work) {
    this.busy = true;
    this.updateControls();
    try {
      await work();
    } catch (e) {
      this.notify(e);
    } finally {
      this.busy = false;
      this.updateControls();
    }
  }

  // ------------------------------------------------------------------ objects and prompts
  newObject() {
    if (!this.source) return null;
    const id = Math.max(0, ...this.objects.keys()) + 1;
    this.objects.set(id, { id, name: `object ${id}`, color: colorOf(id - 1), firstFrame: null });
    this.selectedId = id;
    this.render();
    return id;
  }

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
    if (this.forward && this.current !== this.live) {
      this.notify(new Error(`Prompts go on the live frame (${this.live}), the last one tracked; showing it again.`));
      await this.showFileFrame(this.live);
      return;
    }
    await this.exclusive(async () => {
      if (this.source.kind === "file" && !this.forward) await this.ensureForward(this.current);
      const id = this.objects.has(this.selectedId) ? this.selectedId : this.newObject();
      const key = `${this.live}:${id}`;
      const set = this.clickSets.get(key) || { frame: this.live, obj_id: id, points: [], labels: [], box: null };
      if (change.point) {
        set.points.push(change.point);
        set.labels.push(change.label);
      } else {
        set.box = change.box;
      }
      this.clickSets.set(key, set);
      this.drawPromptLayer();
      // The current frame is the last one the session processed (its index can run ahead of the file's frame
      // numbers if a frame was resent after a dropped socket).
      const reply = await this.forward.socket.send({
        type: "prompt", frame_idx: this.forward.socket.frameIdx, objects: [promptOf(set)],
      });
      const obj = this.objects.get(id);
      if (obj && obj.firstFrame === null) obj.firstFrame = this.live;
      this.record(this.live, "fwd", reply.objects);
      this.lastTimings = reply.timings;
      this.clearMessage();
      this.render();
    });
  }

  async removeObject(id) {
    if (!this.objects.has(id)) return;
    await this.exclusive(async () => {
      if (this.forward && this.objects.get(id).firstFrame !== null) {
        await this.forward.socket.send({ type: "remove", obj_id: id });
      }
      this.objects.delete(id);
      for (const entry of this.frames.values()) {
        entry.fwd.delete(id);
        entry.bwd.delete(id);
      }
      for (const [key, set] of this.clickSets) if (set.obj_id === id) this.clickSets.delete(key);
      if (this.selectedId === id) this.selectedId = null;
      this.render();
    });
  }

  // Frames before the objects' first prompts, by a second session fed the frames in reverse order: from the
  // latest first-prompt frame K down to frame 0, each object's first click set replayed on its frame. Its
  // masks fill only the frames before each object's first prompt (the forward session has the others).
  async trackBackward() {
    if (!this.source || this.source.kind !== "file" || !this.forward || this.playing) return;
    const firsts = [...this.objects.values()].filter((o) => o.firstFrame !== null);
    const top = Math.max(-1, ...firsts.map((o) => o.firstFrame));
    if (top <= 0) {
      this.notify(new Error("Nothing to track backward: no object starts after frame 0."));
      return;
    }
    const resumeAt = this.current;
    await this.exclusive(async () => {
      const socket = this.socketFor(`${this.forward.socket.session}-back`, "backward tracking");
      await socket.open();
      try {
        for (let frame = top; frame >= 0; frame--) {
          await this.seek(frame);
          this.grab();
          this.current = frame;
          const reply = await socket.send(await this.jpeg());
          this.record(frame, "bwd", reply.objects.filter((o) => frame < this.objects.get(o.obj_id)?.firstFrame));
          const starting = firsts.filter((o) => o.firstFrame === frame);
          if (starting.length) {
            await socket.send({
              type: "prompt", frame_idx: socket.frameIdx,
              objects: starting.map((o) => promptOf(this.clickSets.get(`${frame}:${o.id}`))),
            });
          }
          this.status(`Backward tracking: frame ${frame} (from ${top} down to 0)`);
          this.render();
        }
      } finally {
        await socket.close({ deleteSession: true });
      }
      await this.showFileFrame(resumeAt);
      this.status(`Backward tracking done: frames 0-${top - 1} have masks for the objects that start later.`);
    });
  }

  // ------------------------------------------------------------------ drawing
  objectsAt(frame) {
    const entry = this.frames.get(frame);
    if (!entry) return [];
    const merged = new Map([...entry.bwd, ...entry.fwd]);
    return [...merged.entries()].map(([id, o]) => ({ ...o, direction: entry.fwd.has(id) ? "forward" : "backward" }));
  }

  decoded(o) {
    const entry = this.frames.get(this.current);
    const stored = entry && (entry.fwd.get(o.obj_id) || entry.bwd.get(o.obj_id));
    const target = stored || o;
    if (!target.decoded) target.decoded = decodeRle(target.mask);
    return target.decoded;
  }

  render() {
    if (!this.source) return this.updateControls();
    const layers = [], tags = [];
    for (const o of this.objectsAt(this.current)) {
      const obj = this.objects.get(o.obj_id);
      if (!obj || obj.hidden || !o.visible) continue;
      const mask = this.decoded(o);
      layers.push({ mask, color: obj.color });
      const c = centroid(mask, this.source.width);
      if (c) tags.push({ ...c, text: `${o.obj_id}`, color: obj.color });
    }
    drawMasks(this.el.overlay, layers);
    this.tags = tags;
    this.drawPromptLayer();
    this.drawTimeline();
    this.renderList();
    this.renderStats();
    this.updateControls();
  }

  drawPromptLayer() {
    if (!this.source) return;
    const set = this.clickSets.get(`${this.current}:${this.selectedId}`);
    drawPrompts(this.el.prompts, { ...(set || {}), draft: this.draft, tags: this.tags || [] });
  }

  drawTimeline() {
    const canvas = this.el.timeline;
    const width = canvas.clientWidth || 600;
    canvas.width = width;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, canvas.height);
    const n = this.timelineLength();
    if (!n) return;
    const offset = this.source.kind === "camera" ? Math.max(0, this.live - n + 1) : 0;
    const cell = width / n;
    const ids = [...this.objects.keys()];
    const rowH = Math.max(3, (canvas.height - 8) / Math.max(1, ids.length));
    for (let i = 0; i < n; i++) {
      const frame = offset + i;
      const entry = this.frames.get(frame);
      ctx.fillStyle = entry ? "#444" : "#222";
      ctx.fillRect(i * cell, 0, Math.max(1, cell - (cell > 3 ? 1 : 0)), canvas.height);
      if (!entry) continue;
      for (const o of this.objectsAt(frame)) {
        const obj = this.objects.get(o.obj_id);
        if (!obj || !o.visible || !o.area) continue;
        const row = ids.indexOf(o.obj_id);
        ctx.fillStyle = `rgb(${obj.color.join(",")})`;
        ctx.fillRect(i * cell, 4 + row * rowH, Math.max(1, cell - (cell > 3 ? 1 : 0)), rowH - 1);
      }
    }
    ctx.fillStyle = "white";
    ctx.fillRect((this.current - offset) * cell + cell / 2 - 1, 0, 2, canvas.height);
    const withMasks = [...this.frames.keys()].filter((f) => this.objectsAt(f).some((o) => o.visible && o.area)).length;
    canvas.setAttribute("aria-label", `timeline: ${this.frames.size} frames tracked, ${withMasks} with masks; frame ${this.current} shown`);
  }

  timelineLength() {
    if (!this.source) return 0;
    return this.source.kind === "camera" ? Math.min(300, this.live + 1) : this.source.frameCount;
  }

  async timelineClick(e) {
    if (!this.source || this.source.kind !== "file" || this.playing || this.busy) return;
    const rect = this.el.timeline.getBoundingClientRect();
    const frame = Math.floor(((e.clientX - rect.left) / rect.width) * this.source.frameCount);
    await this.exclusive(() => this.showFileFrame(Math.min(Math.max(frame, 0), this.source.frameCount - 1)));
  }

  renderList() {
    renderObjectList(this.el.list, [...this.objects.values()].map((o) => ({
      id: o.id, name: o.name, color: o.color, selected: o.id === this.selectedId, hidden: Boolean(o.hidden),
      detail: o.firstFrame === null ? "click on the frame to place it" : `from frame ${o.firstFrame}`,
    })), {
      onSelect: (id) => { this.selectedId = id; this.render(); },
      onRename: (id, name) => { const o = this.objects.get(id); if (o) o.name = name; },
      onHide: (id) => { const o = this.objects.get(id); o.hidden = !o.hidden; this.render(); },
      onDelete: (id) => this.removeObject(id),
    });
  }

  renderStats() {
    const s = this.source;
    const total = s.kind === "file" ? ` of ${s.frameCount}` : "";
    this.el.frameInfo.textContent = `frame ${this.current}${total} · live ${this.live} · tracked ${this.frames.size}`;
    this.el.frameInfo.dataset.current = this.current;
    this.el.frameInfo.dataset.live = this.live;
    this.el.frameInfo.dataset.tracked = this.frames.size;
    let fps = `${this.fps.toFixed(1)} frames/s`;
    if (s.kind === "camera" && this.presented) fps += ` · camera frames dropped ${Math.max(0, this.presented - this.sent)}`;
    this.el.fpsInfo.textContent = fps;
    const t = this.lastTimings || {};
    this.el.stageTimings.replaceChildren(...Object.entries(t).flatMap(([k, v]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k.replaceAll("_", " ");
      dd.textContent = typeof v === "number" ? `${v.toFixed(1)} ms` : String(v);
      return [dt, dd];
    }));
  }

  updateControls() {
    const e = this.el, s = this.source;
    const file = s?.kind === "file";
    e.play.disabled = !s || (file && this.forward && this.live >= s.frameCount - 1) || this.busy;
    e.play.textContent = this.playing ? "Pause" : "Play";
    e.play.setAttribute("aria-label", this.playing ? "pause tracking (space)" : "play and track (space)");
    e.step.disabled = !file || this.playing || this.busy;
    e.backward.disabled = !file || !this.forward || this.playing || this.busy;
    e.newObject.disabled = !s;
    e.exportJson.disabled = e.exportZip.disabled = !this.frames.size;
    e.stage.setAttribute("aria-busy", this.busy || this.playing ? "true" : "false");
  }

  status(text) {
    this.el.status.textContent = text;
  }

  // ------------------------------------------------------------------ export
  exportData() {
    const s = this.source;
    const frames = [...this.frames.keys()].sort((a, b) => a - b).map((frame) => ({
      frame_idx: frame,
      objects: this.objectsAt(frame).map(({ decoded, ...o }) => o),
    }));
    return {
      video: { name: s.name, kind: s.kind, width: s.width, height: s.height, fps: s.fps ?? null,
        frame_count: Number.isFinite(s.frameCount) ? s.frameCount : null, session: this.forward?.socket.session ?? null },
      objects: [...this.objects.values()].map((o) => ({ obj_id: o.id, name: o.name, first_frame: o.firstFrame })),
      frames,
    };
  }

  baseName() {
    return (this.source?.name || "video").replace(/\.[^.]+$/, "");
  }

  exportJson() {
    download(jsonBytes(this.exportData()), `${this.baseName()}_masks.json`, "application/json");
  }

  exportZip() {
    const data = this.exportData();
    const entries = [{ name: "masks.json", data: jsonBytes(data) }];
    for (const { frame_idx: frame, objects } of data.frames) {
      for (const o of objects) {
        const name = `frame_${String(frame).padStart(6, "0")}_obj_${o.obj_id}.png`;
        entries.push({ name, data: maskPng(decodeRle(o.mask), data.video.width, data.video.height) });
      }
    }
    download(zipArchive(entries), `${this.baseName()}_masks.zip`, "application/zip");
  }
}

function promptOf(set) {
  const p = { obj_id: set.obj_id };
  if (set.points.length) {
    p.points = set.points;
    p.labels = set.labels;
  }
  if (set.box) p.box = set.box;
  return p;
}

