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
