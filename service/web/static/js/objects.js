// The object list shared by both modes: select, rename, hide, delete.
import { cssColor } from "./colors.js";
/** @import { Color } from "./colors.js" */

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
