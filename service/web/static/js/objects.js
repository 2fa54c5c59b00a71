// What the modes share about objects: the object list on screen (select, rename, hide, delete), a click set's
// next prompts, and the table of objects and per-frame click sets both video modes keep.
import { colorOf, cssColor } from "./colors.js";
/** @import { Color } from "./colors.js" */
/** @import { Box, Point } from "./geometry.js" */
/** @import { PromptChange } from "./stage.js" */

/**
 * One row of the list.
 * @typedef {{ id: number, name: string, color: Color, hidden: boolean, selected: boolean, detail?: string }} ObjectItem
 */

/**
 * What the list's controls do.
 * @typedef {object} ObjectListActions
 * @property {(id: number) => void} onSelect
 * @property {(id: number, name: string) => void} onRename
 * @property {(id: number) => void} onHide
 * @property {(id: number) => void} onDelete
 */

/** @param {HTMLElement} ul @param {ObjectItem[]} items @param {ObjectListActions} actions */
export function renderObjectList(ul, items, { onSelect, onRename, onHide, onDelete }) {
  ul.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    li.className = item.selected ? "selected" : "";
    li.dataset.objId = String(item.id);
    li.setAttribute("aria-selected", item.selected ? "true" : "false");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = cssColor(item.color);
    const select = document.createElement("button");
    select.className = "select";
    select.textContent = `#${item.id}`;
    select.setAttribute("aria-label", `select ${item.name}`);
    select.addEventListener("click", () => onSelect(item.id));
    const name = document.createElement("input");
    name.value = item.name;
    name.setAttribute("aria-label", `name of object ${item.id}`);
    name.addEventListener("focus", () => !item.selected && onSelect(item.id));
    name.addEventListener("change", () => onRename(item.id, name.value));
    const detail = document.createElement("small");
    detail.textContent = item.detail || "";
    const hide = document.createElement("button");
    hide.textContent = item.hidden ? "show" : "hide";
    hide.setAttribute("aria-pressed", item.hidden ? "true" : "false");
    hide.setAttribute("aria-label", `${item.hidden ? "show" : "hide"} ${item.name}`);
    hide.addEventListener("click", () => onHide(item.id));
    const del = document.createElement("button");
    del.textContent = "delete";
    del.setAttribute("aria-label", `delete ${item.name}`);
    del.addEventListener("click", () => onDelete(item.id));
    li.append(swatch, select, name, hide, del, detail);
    return li;
  }));
}

/**
 * A definition list of name / value rows (timings).
 * @param {HTMLElement} dl @param {[string, string][]} rows
 */
export function renderRows(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
}

/** @typedef {{ points: Point[], labels: number[], box: Box | null }} Prompts  one object's click set */

/**
 * The click set after a gesture: a point is added, a box replaces the box.
 * @param {Prompts} prev @param {PromptChange} change @returns {Prompts}
 */
export function nextPrompts(prev, change) {
  const next = { points: [...prev.points], labels: [...prev.labels], box: prev.box };
  if ("point" in change) {
    next.points.push(change.point);
    next.labels.push(change.label);
  } else {
    next.box = change.box;
  }
  return next;
}

/** @typedef {{ id: number, name: string, color: Color, hidden: boolean }} TableObject  an object of an ObjectTable */
/** @typedef {Prompts & { frame: number }} FrameClickSet  an object's click set on one frame */

/** The key of an object's click set on a frame in `ObjectTable.clickSets`. @param {number} frame @param {number | null} id */
export const clickKey = (frame, id) => `${frame}:${id}`;

/**
 * The objects of a video document and the click sets they got, frame by frame (file and camera modes): ids from 1,
 * one selected. A mode adds its own fields to a new object (`blankObject`) and starts its click sets
 * (`blankSet`: each names the object id as its server does).
 * @template {TableObject} O @template {FrameClickSet} S
 */
export class ObjectTable {
  constructor() {
    /** @type {Map<number, O>} */
    this.objects = new Map();
    /** @type {number | null} */
    this.selectedId = null;
    /** @type {Map<string, S>} clickKey(frame, id) -> the object's click set on that frame */
    this.clickSets = new Map();
  }

  /** A mode's new object. @param {TableObject} base @returns {O} */
  blankObject(base) {
    throw new Error(`${this.constructor.name} makes no objects (${base.name})`);
  }

  /** A mode's empty click set. @param {number} frame @param {number} id @returns {S} */
  blankSet(frame, id) {
    throw new Error(`${this.constructor.name} makes no click sets (${frame}:${id})`);
  }

  /** A new, selected object, not placed on any frame yet. */
  newObject() {
    const id = Math.max(0, ...this.objects.keys()) + 1;
    this.objects.set(id, this.blankObject({ id, name: `object ${id}`, color: colorOf(id - 1), hidden: false }));
    this.selectedId = id;
    return id;
  }

  /** The selected object's id, or a new object's. */
  selectedOrNew() {
    return this.selectedId !== null && this.objects.has(this.selectedId) ? this.selectedId : this.newObject();
  }

  /** @param {number} id @param {string} name */
  rename(id, name) {
    const obj = this.objects.get(id);
    if (obj) obj.name = name;
  }

  /** @param {number} id */
  toggleHidden(id) {
    const obj = this.objects.get(id);
    if (obj) obj.hidden = !obj.hidden;
  }

  /** The object, its click sets and its selection (a mode removes its masks too). @param {number} id */
  removeObject(id) {
    this.objects.delete(id);
    for (const key of [...this.clickSets.keys()]) if (key.endsWith(`:${id}`)) this.clickSets.delete(key);
    if (this.selectedId === id) this.selectedId = null;
  }

  /** @param {number} frame @param {number | null} id @returns {S | undefined} */
  clickSet(frame, id) {
    return this.clickSets.get(clickKey(frame, id));
  }

  /**
   * Adds a click or a box to the object's click set on a frame (the set is changed in place).
   * @param {number} frame @param {number} id @param {PromptChange} change @returns {S}
   */
  addPrompt(frame, id, change) {
    const set = this.clickSet(frame, id) ?? this.blankSet(frame, id);
    this.clickSets.set(clickKey(frame, id), Object.assign(set, nextPrompts(set, change)));
    return set;
  }
}
