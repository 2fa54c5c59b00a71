// Image mode: open an image, click / box to segment objects, correct them, compare SAM 2 with the refiner, export.
import * as api from "./api.js";
import { decodeRle, maskStats } from "./rle.js";
import { attachPromptInput, colorOf, drawMasks, drawPrompts, setImageSize } from "./overlay.js";
import { download } from "./download.js";
import { jsonBytes, maskPng } from "./files.js";
import { renderObjectList } from "./objects.js";

const UPLOADABLE = ["image/png", "image/jpeg", "image/webp"];  // what the service decodes as is
const EMPTY = Object.freeze({ points: [], labels: [], box: null, mask: null });

function readAsDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

export class ImageMode {
  constructor(el, { notify, clearMessage }) {
    this.el = el;
    this.notify = notify;
    this.clearMessage = clearMessage;
    this.image = null;          // {name, dataUrl, width, height, element, imageId}
    this.objects = [];          // {id, name, color, hidden, history: [state], at}
    this.selectedId = null;
    this.nextId = 1;
    this.draft = null;
    this.refinerLoaded = true;
    this.streaming = null;      // null: not known yet; the first refined request finds out
    this.queue = Promise.resolve();
    this.pending = 0;

    attachPromptInput(el.prompts, {
      onPoint: (p, label) => this.prompt({ point: p, label }),
      onBox: (box) => this.prompt({ box }),
      onDraft: (box) => { this.draft = box; this.drawPromptLayer(); },
    });
    el.file.addEventListener("change", () => el.file.files[0] && this.open(el.file.files[0]));
    el.stage.addEventListener("dragover", (e) => { e.preventDefault(); el.stage.classList.add("dropping"); });
    el.stage.addEventListener("dragleave", () => el.stage.classList.remove("dropping"));
    el.stage.addEventListener("drop", (e) => {
      e.preventDefault();
      el.stage.classList.remove("dropping");
      const file = [...e.dataTransfer.files].find((f) => f.type.startsWith("image/"));
      if (file) this.open(file);
    });
    el.newObject.addEventListener("click", () => this.newObject());
    el.undo.addEventListener("click", () => this.undo());
    el.redo.addEventListener("click", () => this.redo());
    el.clearAll.addEventListener("click", () => this.clearAll());
    el.refine.addEventListener("change", () => this.showState());
    el.compare.addEventListener("change", () => this.compareChanged());
    el.split.addEventListener("input", () => this.redraw());
    el.exportPng.addEventListener("click", () => this.exportPng());
    el.exportCutout.addEventListener("click", () => this.exportCutout());
    el.exportCoco.addEventListener("click", () => this.exportCoco());
    this.updateControls();
  }

  setModel(model) {
    this.refinerLoaded = !(model.refiner === "none" || Object.values(model.modules || {}).every((on) => !on));
    this.el.refine.disabled = !this.refinerLoaded;
    this.el.refine.checked = this.refinerLoaded && (model.refine_default ?? true);
    this.el.refineNote.textContent = this.refinerLoaded ? "" : "no refiner loaded";
    this.updateControls();
  }

  // ------------------------------------------------------------------ image
  async open(file) {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
    } catch {
      this.notify(new Error(`${file.name || "the pasted file"} is not an image this browser can read`));
      return;
    }
    const { naturalWidth: width, naturalHeight: height } = img;
    for (const c of [this.el.canvas, this.el.overlay]) {
      c.width = width;
      c.height = height;
    }
    setImageSize(this.el.prompts, width, height);
    this.el.canvas.getContext("2d").drawImage(img, 0, 0);
    // JPEG, PNG and WebP go up as they are (EXIF orientation is applied by both sides); anything else as PNG.
    const dataUrl = UPLOADABLE.includes(file.type) ? await readAsDataUrl(file) : this.el.canvas.toDataURL("image/png");
    this.image = { name: file.name || "pasted.png", dataUrl, width, height, element: img, imageId: null };
    this.objects = [];
    this.selectedId = null;
    this.nextId = 1;
    this.el.stage.classList.add("loaded");
    this.el.canvas.setAttribute("aria-label", `image ${this.image.name}, ${width} by ${height} pixels`);
    this.clearMessage();
    this.el.prompts.focus();
    this.el.status.textContent = `${this.image.name}: ${width} x ${height}. Click on an object.`;
    this.showState();
  }

  // ------------------------------------------------------------------ objects
  get selected() {
    return this.objects.find((o) => o.id === this.selectedId) || null;
  }

  newObject() {
    if (!this.image) return null;
    const id = this.nextId++;
    const obj = { id, name: `object ${id}`, color: colorOf(id - 1), hidden: false, history: [EMPTY], at: 0 };
    this.objects.push(obj);
    this.selectedId = id;
    this.showState();
    return obj;
  }

  select(id) {
    this.selectedId = id;
    this.showState();
    this.compareChanged();
  }

  remove(id) {
    this.objects = this.objects.filter((o) => o.id !== id);
    if (this.selectedId === id) this.selectedId = this.objects.at(-1)?.id ?? null;
    this.showState();
  }

  undo() {
    const obj = this.selected;
    if (obj && obj.at > 0) obj.at--;
    this.showState();
  }

  redo() {
    const obj = this.selected;
    if (obj && obj.at < obj.history.length - 1) obj.at++;
    this.showState();
  }

  clearAll() {
    this.objects = [];
    this.selectedId = null;
    this.showState();
  }

  toggleHidden(id = this.selectedId) {
    const obj = this.objects.find((o) => o.id === id);
    if (obj) obj.hidden = !obj.hidden;
    this.showState();
  }

  selectByIndex(i) {
    if (this.objects[i]) this.select(this.objects[i].id);
  }

  // ------------------------------------------------------------------ prompts and requests
  prompt(change) {
    if (!this.image) {
      this.notify(new Error("Open an image first (button, drag and drop, or paste)."));
      return;
    }
    const obj = this.selected || this.newObject();
    this.pending++;
    this.updateControls();
    const run = async () => {
      const prev = obj.history[obj.at];
      const next = { points: [...prev.points], labels: [...prev.labels], box: prev.box };
      if (change.point) {
        next.points.push(change.point);
        next.labels.push(change.label);
      } else {
        next.box = change.box;
      }
      this.previewPrompts = { obj, prompts: next };
      this.drawPromptLayer();
      const state = await this.segment(next, prev.logitsId, (partial) => {
        obj.preview = partial;  // SAM 2's mask of a stream, shown until the refined one arrives
        this.showState();
      });
      obj.preview = null;
      obj.history = obj.history.slice(0, obj.at + 1);
      obj.history.push(state);
      obj.at = obj.history.length - 1;
      this.clearMessage();
    };
    this.queue = this.queue.then(run).catch((e) => {
      this.notify(e, e.retryable ? () => this.prompt(change) : null);
    }).finally(() => {
      this.pending--;
      this.previewPrompts = null;
      obj.preview = null;
      this.showState();
    });
    return this.queue;
  }

  // One object's request (its whole click set, plus the last mask's logits as the corrective prompt), resent
  // as the service asks: the image when its id is unknown, without logits when those are, without streaming
  // when the service does not stream.
  async segment(prompts, logitsId, onPartial, refine = this.el.refine.checked) {
    const object = {};
    if (prompts.points.length) {
      object.points = prompts.points;
      object.labels = prompts.labels;
    }
    if (prompts.box) object.box = prompts.box;
    if (logitsId) object.mask_logits_id = logitsId;
    // One click alone is ambiguous: ask for three candidates and keep the best (as SAM's demos do).
    const multimask = prompts.points.length === 1 && !prompts.box && !logitsId;
    for (let attempt = 0; attempt < 4; attempt++) {
      const body = { objects: [object], multimask, refine, format: "rle" };
      if (refine && this.streaming !== false) body.stream = true;
      if (this.image.imageId) body.image_id = this.image.imageId;
      else body.image = this.image.dataUrl;
      let sam2Part = null;
      try {
        const final = await api.segment(body, (part) => {
          if (part.stage === "sam2" && !part.final) {
            sam2Part = this.stateFrom(part, prompts, logitsId, false);
            onPartial(sam2Part);
          }
        });
        if (body.stream) this.streaming = true;
        this.image.imageId = final.image_id;
        const state = this.stateFrom(final, prompts, logitsId, refine);
        state.sam2 = refine ? sam2Part : state;
        state.stream = Boolean(sam2Part);
        return state;
      } catch (e) {
        if (!(e instanceof api.ApiError)) throw e;
        if (e.code === "unknown_id" && e.field === "image_id") {
          this.image.imageId = null;           // evicted, or another replica: send the pixels again
        } else if (e.code === "unknown_id" && (e.field || "").endsWith("mask_logits_id")) {
          delete object.mask_logits_id;
        } else if (body.stream && e.status === 422 && (e.field || "").startsWith("stream")) {
          this.streaming = false;              // a service without progressive answers
        } else {
          if (e.code === "refiner_not_loaded") this.setModel({ refiner: "none" });
          throw e;
        }
      }
    }
    throw new Error("the service kept refusing this request");
  }

  stateFrom(part, prompts, logitsId, refined) {
    const candidates = part.objects[0].masks;
    const best = candidates.reduce((a, b) => (b.score > a.score ? b : a));
    return {
      ...prompts, usedLogitsId: logitsId, refined,
      mask: decodeRle(best.mask), rle: best.mask, score: best.score, logitsId: best.logits_id,
      timings: part.timings_ms, roundTripMs: part.roundTripMs,
    };
  }

  async compareChanged() {
    const obj = this.selected;
    const state = obj && obj.history[obj.at];
    if (this.el.compare.checked && state && state.mask && !state.sam2) {
      try {  // SAM 2's own answer to the same prompts (the image's features are cached: decoder only)
        state.sam2 = await this.segment(state, state.usedLogitsId, () => {}, false);
      } catch (e) {
        this.notify(e);
      }
    }
    this.showState();
  }

  // ------------------------------------------------------------------ drawing
  showState() {
    this.redraw();
    this.drawPromptLayer();
    this.renderList();
    this.renderScores();
    this.updateControls();
  }

  redraw() {
    if (!this.image) return;
    const layers = [];
    const compare = this.el.compare.checked;
    const split = Math.round((this.el.split.value / 100) * this.image.width);
    for (const obj of this.objects) {
      const state = obj.preview || obj.history[obj.at];
      if (obj.hidden || !state.mask) continue;
      if (compare && obj.id === this.selectedId && state.sam2 && state.refined) {
        layers.push({ mask: state.sam2.mask, color: obj.color, toX: split });
        layers.push({ mask: state.mask, color: obj.color, fromX: split });
      } else {
        layers.push({ mask: state.mask, color: obj.color });
      }
    }
    drawMasks(this.el.overlay, layers);
    this.el.splitLine.hidden = !compare;
    this.el.splitLine.style.left = `${this.el.split.value}%`;
  }

  drawPromptLayer() {
    if (!this.image) return;
    const obj = this.selected;
    const shown = this.previewPrompts?.obj === obj ? this.previewPrompts.prompts : obj?.history[obj.at];
    drawPrompts(this.el.prompts, { ...(shown || EMPTY), draft: this.draft });
  }

  renderList() {
    renderObjectList(this.el.list, this.objects.map((o) => ({
      id: o.id, name: o.name, color: o.color, hidden: o.hidden, selected: o.id === this.selectedId,
      detail: o.history[o.at].mask ? `score ${o.history[o.at].score.toFixed(3)}` : "no mask yet",
    })), {
      onSelect: (id) => this.select(id),
      onRename: (id, name) => { const o = this.objects.find((x) => x.id === id); if (o) o.name = name; },
      onHide: (id) => this.toggleHidden(id),
      onDelete: (id) => this.remove(id),
    });
  }

  renderScores() {
    const obj = this.selected;
    const state = obj && (obj.preview || obj.history[obj.at]);
    const scores = this.el.scores, timings = this.el.timings;
    if (!state || !state.mask) {
      scores.textContent = "";
      timings.textContent = "";
      return;
    }
    const kind = obj.preview ? "SAM 2 (refined mask on its way)" : state.refined ? "refined" : "SAM 2";
    let text = `${kind}: score ${state.score.toFixed(3)}`;
    if (state.refined && state.sam2) text += ` · SAM 2: ${state.sam2.score.toFixed(3)}`;
    if (this.el.compare.checked && state.refined) text += " · compare: SAM 2 left of the line, refined right";
    scores.textContent = text;
    const t = state.timings || {};
    const ms = (v) => `${Number(v ?? 0).toFixed(1)} ms`;
    timings.replaceChildren(...[
      ["encode", ms(t.encode)], ["decoder", ms(t.decoder)], ["refine", ms(t.refine)],
      ["cache hit", t.cache_hit ? "yes" : "no"], ["server total", ms(t.total)],
      ["round trip", ms(state.roundTripMs)], ["streamed", state.stream ? "yes" : "no"],
    ].flatMap(([k, v]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      return [dt, dd];
    }));
  }

  updateControls() {
    const obj = this.selected;
    const has = Boolean(this.image);
    this.el.newObject.disabled = !has;
    this.el.undo.disabled = !obj || obj.at === 0;
    this.el.redo.disabled = !obj || obj.at >= obj.history.length - 1;
    this.el.clearAll.disabled = !this.objects.length;
    const withMask = Boolean(obj && obj.history[obj.at].mask);
    this.el.exportPng.disabled = this.el.exportCutout.disabled = !withMask;
    this.el.exportCoco.disabled = !this.objects.some((o) => o.history[o.at].mask);
    this.el.stage.setAttribute("aria-busy", this.pending ? "true" : "false");
    this.el.busy.hidden = !this.pending;
  }

  // ------------------------------------------------------------------ export
  baseName() {
    return (this.image?.name || "image").replace(/\.[^.]+$/, "");
  }

  exportPng() {
    const obj = this.selected;
    const state = obj?.history[obj.at];
    if (!state?.mask) return;
    download(maskPng(state.mask, this.image.width, this.image.height), `${this.baseName()}_${obj.id}_mask.png`, "image/png");
  }

  async exportCutout() {
    const obj = this.selected;
    const state = obj?.history[obj.at];
    if (!state?.mask) return;
    const { width: w, height: h } = this.image;
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(this.image.element, 0, 0);
    const pixels = ctx.getImageData(0, 0, w, h);
    for (let i = 0; i < state.mask.length; i++) pixels.data[i * 4 + 3] = state.mask[i] ? 255 : 0;
    ctx.putImageData(pixels, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    download(blob, `${this.baseName()}_${obj.id}_cutout.png`);
  }

  exportCoco() {
    const { width, height, name } = this.image;
    const annotations = this.objects.filter((o) => o.history[o.at].mask).map((o) => {
      const state = o.history[o.at];
      const { area, bbox } = maskStats(state.mask, width, height);
      return {
        id: o.id, image_id: 1, category_id: 1, segmentation: state.rle, area, bbox, iscrowd: 0,
        score: state.score, name: o.name, refined: state.refined,
      };
    });
    download(jsonBytes({
      info: { description: "SAM2Refiner web app export", date_created: new Date().toISOString() },
      images: [{ id: 1, file_name: name, width, height }],
      categories: [{ id: 1, name: "object" }],
      annotations,
    }), `${this.baseName()}_coco.json`, "application/json");
  }
}
