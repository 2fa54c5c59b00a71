// The keyboard shortcuts of the two modes (the page's "Mouse and keyboard" table), as action names. Pure: main.js
// runs the actions.

/** @typedef {"image" | "video" | "file"} Mode  video: the camera (streaming); file: a video file session */
/**
 * @typedef {"undo" | "redo" | "newObject" | "toggleHidden" | "removeSelected" | "toggleRefine" | "toggleCompare" |
 *   "select" | "selectNone" | "videoMode" | "imageMode" | "fileMode" | "togglePlay" | "stepForward" | "stepBack" |
 *   "trackBackward" | "track" | "stopTracking" | "firstFrame" | "lastFrame"} Action
 */
/** @typedef {{ action: Action, index?: number }} Shortcut  index: the object's position, for "select" */

/** @type {Record<string, Action>} */
const IMAGE_KEYS = {
  n: "newObject", z: "undo", y: "redo", h: "toggleHidden", delete: "removeSelected", backspace: "removeSelected",
  r: "toggleRefine", c: "toggleCompare", escape: "selectNone", v: "videoMode", f: "fileMode",
};

/** @type {Record<string, Action>} */
const VIDEO_KEYS = {
  " ": "togglePlay", arrowright: "stepForward", arrowleft: "stepBack", b: "trackBackward", n: "newObject",
  delete: "removeSelected", backspace: "removeSelected", i: "imageMode", f: "fileMode",
};

/** @type {Record<string, Action>} */
const FILE_KEYS = {
  " ": "togglePlay", arrowright: "stepForward", arrowleft: "stepBack", home: "firstFrame", end: "lastFrame",
  t: "track", escape: "stopTracking", n: "newObject", delete: "removeSelected", backspace: "removeSelected",
  i: "imageMode", v: "videoMode",
};

/** Inputs a person types into: every key is theirs. */
const TEXT_INPUTS = new Set(["text", "password", "search", "email", "url", "tel", "number", "date", "time"]);
/** Keys a focused control acts on itself (a checkbox's space, a slider's arrows); the others are shortcuts. */
const CONTROL_KEYS = {
  button: new Set([" ", "enter"]),
  toggle: new Set([" "]),
  range: new Set(["arrowleft", "arrowright", "arrowup", "arrowdown", "home", "end", "pageup", "pagedown"]),
};

/**
 * Whether a key pressed on the focused element is that element's, not a shortcut: everything while typing in a
 * text field, a button's or checkbox's own activation, a slider's arrows. After a control is used its other keys
 * are shortcuts again.
 * @param {{ tag: string, type?: string, editable?: boolean } | null} focused  the element (tag name lower case)
 * @param {string} key  KeyboardEvent.key
 */
export function keyBelongsToControl(focused, key) {
  if (!focused) return false;
  const k = key.toLowerCase(), type = (focused.type || "").toLowerCase();
  if (focused.editable || focused.tag === "textarea" || focused.tag === "select") return true;
  if (focused.tag === "button" || (focused.tag === "input" && ["button", "submit", "file"].includes(type))) {
    return CONTROL_KEYS.button.has(k);
  }
  if (focused.tag !== "input") return false;
  if (type === "checkbox" || type === "radio") return CONTROL_KEYS.toggle.has(k);
  if (type === "range") return CONTROL_KEYS.range.has(k);
  return TEXT_INPUTS.has(type || "text");
}

/**
 * What a key press asks for in a mode, or null (the browser keeps the key).
 * @param {Mode} mode @param {{ key: string, ctrlKey: boolean, metaKey: boolean, shiftKey: boolean, altKey: boolean }} e
 * @returns {Shortcut | null}
 */
export function shortcutFor(mode, e) {
  if (e.altKey) return null;
  const key = e.key.toLowerCase(), ctrl = e.ctrlKey || e.metaKey;
  /** @type {Action | undefined} */
  let action;
  if (mode !== "image") action = ctrl ? undefined : (mode === "video" ? VIDEO_KEYS : FILE_KEYS)[key];
  else if (ctrl) action = key === "z" ? (e.shiftKey ? "redo" : "undo") : key === "y" ? "redo" : undefined;
  else if (/^[1-9]$/.test(key)) return { action: "select", index: Number(key) - 1 };
  else action = IMAGE_KEYS[key];
  return action ? { action } : null;
}
