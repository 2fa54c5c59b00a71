// The stage, side panel and timeline both video modes have, built from the page's one template
// (#frames-workspace) into each mode's section: ids prefixed with the mode, the texts the section names in its
// data-* attributes, and the section's own extra parts moved in after the part each names (data-after).

/**
 * @param {HTMLElement} section the mode's section (its toolbar stays first)
 * @param {string} mode the ids' prefix ("file", "video")
 */
export function buildWorkspace(section, mode) {
  const template = document.getElementById("frames-workspace");
  if (!(template instanceof HTMLTemplateElement)) throw new Error("the page has no template #frames-workspace");
  const part = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  for (const el of part.querySelectorAll("[data-id]")) {
    if (!(el instanceof HTMLElement)) continue;
    el.id = `${mode}-${el.dataset.id}`;
    delete el.dataset.id;
  }
  /** @param {string} name @returns {HTMLElement} */
  const named = (name) => {
    const el = part.getElementById(`${mode}-${name}`);
    if (!el) throw new Error(`the workspace has no part ${name}`);
    return el;
  };
  const texts = section.dataset;
  named("canvas").setAttribute("aria-label", texts.canvasLabel ?? "");
  named("prompts").setAttribute("aria-label", texts.promptsLabel ?? "");
  named("objects").setAttribute("aria-label", texts.objectsLabel ?? "");
  named("placeholder").textContent = texts.placeholder ?? "";
  // Last first: parts after the same one keep the section's order.
  for (const extra of [...section.querySelectorAll(":scope > [data-after]")].reverse()) {
    if (!(extra instanceof HTMLElement)) continue;
    named(extra.dataset.after ?? "").after(extra);
    delete extra.dataset.after;
  }
  section.append(part);
}
