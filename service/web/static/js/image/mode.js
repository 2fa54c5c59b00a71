// Image mode: open an image, click / box to segment objects, correct them, compare SAM 2 with the refiner,
// export. The controller: turns the page's events into state changes and requests, in order, and redraws.
import { ApiError } from "../api.js";
import { download } from "../download.js";
import { nextPrompts } from "../objects.js";
import { DraftKeeper } from "../persist.js";
import { acceptFiles, modeStage } from "../stage.js";
import { fromDraft, toDraft } from "./draft.js";
import { cocoFile, cutoutFile, maskFile } from "./export.js";
import { Segmenter } from "./network.js";
import { ImageView } from "./render.js";
import { ImageState } from "./state.js";
/** @import { Box } from "../geometry.js" */
/** @import { ModelInfo } from "../api.js" */
/** @import { ImageElements } from "./render.js" */
/** @import { PromptChange } from "../stage.js" */
/** @import { Messages } from "../messages.js" */

const UPLOADABLE = ["image/png", "image/jpeg", "image/webp"];  // what the service decodes as is

/** @param {HTMLImageElement} img @returns {string} the decoded image as a PNG data URL */
function pngDataUrl(img) {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext("2d")?.drawImage(img, 0, 0);
  return canvas.toDataURL("image/png");
}

/** @param {Blob} blob @returns {Promise<string>} */
function readAsDataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

export class ImageMode {
  /** @param {ImageElements} el @param {Messages} messages */
  constructor(el, { notify, clearMessage }) {
    this.el = el;
    this.notify = notify;
    this.clearMessage = clearMessage;
    this.state = new ImageState();
    this.segmenter = new Segmenter();  // in this browser when it can, else on the server (and the note says so)
    this.segmenter.onChange = () => { el.decoderNote.textContent = this.segmenter.where; };
    this.stage = modeStage(el, this);
    this.view = new ImageView(el, this.stage, {
      onSelect: (id) => this.select(id),
      onRename: (id, name) => this.state.rename(id, name),
      onHide: (id) => this.toggleHidden(id),
      onDelete: (id) => this.remove(id),
    });
    /** @type {Box | null} the box being dragged */
    this.draft = null;
    this.refinerLoaded = true;
    /** the service's pixel limit (from /v1/model), checked when an image opens rather than at the first click */
    this.maxPixels = Infinity;
    /** @type {Promise<unknown>} requests run one after the other, in the order of the clicks */
    this.queue = Promise.resolve();
    this.pending = 0;

    acceptFiles(el, (f) => f.type.startsWith("image/"), (file) => this.open(file));
    el.newObject.addEventListener("click", () => this.newObject());
    el.undo.addEventListener("click", () => this.undo());
    el.redo.addEventListener("click", () => this.redo());
    el.clearAll.addEventListener("click", () => this.clearAll());
    el.refine.addEventListener("change", () => this.showState());
    el.compare.addEventListener("change", () => this.compareChanged());
    el.split.addEventListener("input", () => this.view.drawOverlay(this.state));
    el.exportPng.addEventListener("click", () => this.exportPng());
    el.exportCutout.addEventListener("click", () => this.exportCutout());
    el.exportCoco.addEventListener("click", () => this.exportCoco());
    /** the document is kept in the browser (IndexedDB) as it changes, and restored when the page loads */
    this.drafts = new DraftKeeper("image", () => toDraft(this.state), notify);
    this.showState();
    this.restored = this.restore();
    /** @type {Promise<void>} the last open() */
    this.opening = Promise.resolve();
  }

  /** Reopens the image and objects of the last visit (a reload, a closed tab). */
  async restore() {
    const state = fromDraft(await this.drafts.load());
    if (!state?.image || this.state.image) return;  // nothing kept, or an image was opened meanwhile
    const img = new Image();
    img.src = state.image.dataUrl;
    try {
      await img.decode();
    } catch {
      return;
    }
    if (this.state.image) return;
    this.show(img, state);
    const n = state.objects.length;
    this.el.status.textContent = `Restored ${state.image.name} and its ${n} object${n === 1 ? "" : "s"} from the last visit.`;
  }

  /** Puts a decoded image and its document on the stage. @param {HTMLImageElement} img @param {ImageState} state */
  show(img, state) {
    const image = /** @type {NonNullable<ImageState["image"]>} */ (state.image);
    this.stage.setImageSize({ width: image.width, height: image.height });
    this.stage.picture.drawImage(img, 0, 0);
    this.state = state;
    this.el.canvas.setAttribute("aria-label", `image ${image.name}, ${image.width} by ${image.height} pixels`);
    this.showState();
  }

  /** @param {ModelInfo} model */
  setModel(model) {
    if (model.max_image_pixels) this.maxPixels = model.max_image_pixels;
    this.refinerLoaded = !(model.refiner === "none" || Object.values(model.modules || {}).every((on) => !on));
    this.el.refine.disabled = !this.refinerLoaded;
    this.el.refine.checked = this.refinerLoaded && (model.refine_default ?? true);
    this.el.refineNote.textContent = this.refinerLoaded ? "" : "no refiner loaded";
    this.segmenter.enableLocal();
    this.showState();
  }

  // ------------------------------------------------------------------ image
  /** Opens an image file (the file button, a drop, a paste). @param {File} file */
  open(file) {
    this.opening = this.openNow(file);  // the tests wait on it
    return this.opening;
  }

  /** @param {File} file */
  async openNow(file) {
    const img = new Image();
    img.src = URL.createObjectURL(file);
    try {
      await img.decode();
    } catch {
      this.notify(new Error(`${file.name || "the pasted file"} is not an image this browser can read`));
      return;
    }
    const { naturalWidth: width, naturalHeight: height } = img;
    if (width * height > this.maxPixels) {  // the service would refuse it at the first click: say so now
      URL.revokeObjectURL(img.src);
      const n = (/** @type {number} */ v) => v.toLocaleString("en");
      this.notify(new Error(`${file.name || "The pasted image"} is ${width} x ${height} = ${n(width * height)} pixels, `
        + `over this service's limit of ${n(this.maxPixels)} (max_image_pixels): scale it down and open it again.`));
      return;
    }
    const name = file.name || "pasted.png";
    if (this.state.hasUnsavedWork && !confirm(`Open ${name} instead of ${this.state.image?.name}? `
      + "Its objects have not been exported since they changed and will be lost.")) {
      URL.revokeObjectURL(img.src);
      return;
    }
    // JPEG, PNG and WebP go up as they are (EXIF orientation is applied by both sides); anything else as PNG.
    const dataUrl = UPLOADABLE.includes(file.type) ? await readAsDataUrl(file) : pngDataUrl(img);
    URL.revokeObjectURL(img.src);
    const state = new ImageState();
    state.open({ name, dataUrl, width, height, imageId: null });
    this.show(img, state);
    this.drafts.flush();  // the new image replaces the kept one at once
    this.clearMessage();
    this.el.prompts.focus();
    this.el.status.textContent = `${name}: ${width} x ${height}. Click on an object.`;
    this.showState();
  }

  // ------------------------------------------------------------------ objects
  newObject() {
    const obj = this.state.newObject();
    this.showState();
    return obj;
  }

  /** @param {number} id */
  select(id) {
    this.state.select(id);
    this.compareChanged();
  }

  /** @param {number} i */
  selectByIndex(i) {
    if (this.state.selectByIndex(i)) this.compareChanged();
  }

  selectNone() {
    this.state.select(null);
    this.showState();
  }

  /** @param {number} id */
  remove(id) {
    this.state.remove(id);
    this.showState();
  }

  removeSelected() {
    if (this.state.selectedId !== null) this.remove(this.state.selectedId);
  }

  undo() {
    this.state.undo();
    this.showState();
  }

  redo() {
    this.state.redo();
    this.showState();
  }

  clearAll() {
    const n = this.state.clearAll();
    if (n) this.el.status.textContent = `Cleared ${n} object${n === 1 ? "" : "s"}: Undo (Z) brings them back.`;
    this.showState();
  }

  /** @param {number | null} [id] */
  toggleHidden(id = this.state.selectedId) {
    this.state.toggleHidden(id);
    this.showState();
  }

  toggleRefine() {
    if (this.el.refine.disabled) return;
    this.el.refine.checked = !this.el.refine.checked;
    this.showState();
  }

  toggleCompare() {
    this.el.compare.checked = !this.el.compare.checked;
    this.compareChanged();
  }

  // ------------------------------------------------------------------ prompts and requests
  /** A click or a box on the selected object (a new one if none is selected). @param {PromptChange} change */
  prompt(change) {
    const doc = this.state;  // the image's document: another image opened meanwhile has its own
    const image = doc.image;
    if (!image) {
      this.notify(new Error("Open an image first (button, drag and drop, or paste)."));
      return;
    }
    const obj = doc.selected || doc.newObject();
    if (!obj) return;
    this.pending++;
    this.showState();
    const run = async () => {
      const prev = doc.current(obj);
      const prompts = nextPrompts(prev, change);
      doc.inFlight = { objId: obj.id, prompts };
      this.drawPromptLayer();
      const state = await this.segmenter.segment(image, prompts, prev, {
        refine: this.el.refine.checked,
        onPartial: (partial) => {
          obj.preview = partial;  // SAM 2's mask of a stream, shown until the refined one arrives
          this.showState();
        },
      });
      obj.preview = null;
      doc.commit(obj, state);
      this.clearMessage();
    };
    this.queue = this.queue.then(run).catch((e) => {
      if (e instanceof ApiError && e.code === "refiner_not_loaded") this.setModel({ refiner: "none" });
      this.notify(e, e instanceof ApiError && e.retryable ? () => this.prompt(change) : null);
    }).finally(() => {
      this.pending--;
      doc.inFlight = null;
      obj.preview = null;
      this.showState();
    });
    return this.queue;
  }

  /** In the compare view, the selected object's SAM 2 mask is asked for when its answer did not bring it. */
  async compareChanged() {
    const obj = this.state.selected;
    const current = obj && this.state.current(obj);
    if (this.el.compare.checked && this.state.image && current?.mask && !current.sam2) {
      try {  // SAM 2's own answer to the same prompts (the image's features are cached: decoder only)
        current.sam2 = await this.segmenter.server.segment(this.state.image, current, current.usedLogitsId,
          { refine: false });
      } catch (e) {
        this.notify(e);
      }
    }
    this.showState();
  }

  // ------------------------------------------------------------------ drawing
  showState() {
    this.view.render(this.state, { draft: this.draft, pending: this.pending });
    this.drafts?.changed();  // (the first render comes before the keeper exists)
  }

  drawPromptLayer() {
    this.view.drawPromptLayer(this.state, this.draft);
  }

  // ------------------------------------------------------------------ export
  exportPng() {
    const obj = this.state.selected, image = this.state.image;
    const file = obj && image && maskFile(image, obj);
    if (file) download(file.data, file.name, "image/png");
  }

  exportCutout() {
    const obj = this.state.selected, image = this.state.image;
    if (!obj || !image) return;
    const pixels = this.stage.picture.getImageData(0, 0, image.width, image.height).data;
    const file = cutoutFile(image, obj, pixels);
    if (file) download(file.data, file.name, "image/png");
  }

  exportCoco() {
    if (!this.state.image) return;
    const file = cocoFile(this.state.image, this.state.objects);
    download(file.data, file.name, "application/json");
    this.state.unexported = 0;  // everything is in the file: replacing the image no longer asks
    this.drafts.changed();
  }
}
