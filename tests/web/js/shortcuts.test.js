import assert from "node:assert/strict";
import { test } from "node:test";

import { keyBelongsToControl, shortcutFor } from "../../../service/web/static/js/shortcuts.js";

/** @param {string} key @param {{ ctrl?: boolean, meta?: boolean, shift?: boolean, alt?: boolean }} [mods] */
const press = (key, { ctrl = false, meta = false, shift = false, alt = false } = {}) =>
  ({ key, ctrlKey: ctrl, metaKey: meta, shiftKey: shift, altKey: alt });

test("image mode: the keys of the page's table", () => {
  const action = (/** @type {ReturnType<typeof press>} */ e) => shortcutFor("image", e)?.action ?? null;
  assert.equal(action(press("z")), "undo");
  assert.equal(action(press("z", { ctrl: true })), "undo");
  assert.equal(action(press("Z", { ctrl: true, shift: true })), "redo");
  assert.equal(action(press("y", { meta: true })), "redo");
  assert.equal(action(press("N")), "newObject");
  assert.equal(action(press("Delete")), "removeSelected");
  assert.equal(action(press("Escape")), "selectNone");
  assert.equal(action(press("v")), "videoMode");
  assert.deepEqual(shortcutFor("image", press("3")), { action: "select", index: 2 });
});

test("video mode: play, step, backward, new, remove, back to images", () => {
  const action = (/** @type {ReturnType<typeof press>} */ e) => shortcutFor("video", e)?.action ?? null;
  assert.equal(action(press(" ")), "togglePlay");
  assert.equal(action(press("ArrowRight")), "stepForward");
  assert.equal(action(press("ArrowLeft")), "stepBack");
  assert.equal(action(press("b")), "trackBackward");
  assert.equal(action(press("i")), "imageMode");
  assert.equal(action(press("z")), null, "undo is image mode's");
});

test("video file mode: play, scrub, track and stop, new, remove, the other modes", () => {
  const action = (/** @type {ReturnType<typeof press>} */ e) => shortcutFor("file", e)?.action ?? null;
  assert.equal(action(press(" ")), "togglePlay");
  assert.equal(action(press("ArrowRight")), "stepForward");
  assert.equal(action(press("ArrowLeft")), "stepBack");
  assert.equal(action(press("Home")), "firstFrame");
  assert.equal(action(press("End")), "lastFrame");
  assert.equal(action(press("t")), "track");
  assert.equal(action(press("Escape")), "stopTracking");
  assert.equal(action(press("n")), "newObject");
  assert.equal(action(press("Delete")), "removeSelected");
  assert.equal(action(press("i")), "imageMode");
  assert.equal(action(press("v")), "videoMode");
  assert.equal(action(press("b")), null, "backward streaming is the camera mode's");
  assert.equal(shortcutFor("image", press("f"))?.action, "fileMode");
  assert.equal(shortcutFor("video", press("f"))?.action, "fileMode");
  assert.equal(shortcutFor("file", press("t", { ctrl: true })), null, "a new browser tab");
});

test("the browser keeps what the page does not use", () => {
  assert.equal(shortcutFor("image", press("c", { ctrl: true })), null, "copy");
  assert.equal(shortcutFor("image", press("v", { ctrl: true })), null, "paste");
  assert.equal(shortcutFor("video", press(" ", { ctrl: true })), null);
  assert.equal(shortcutFor("image", press("n", { alt: true })), null);
  assert.equal(shortcutFor("image", press("0")), null);
  assert.equal(shortcutFor("image", press("F5")), null);
});

test("keys stay with a text field; a used control keeps only its own keys", () => {
  assert.equal(keyBelongsToControl(null, "z"), false);                                  // nothing focused
  for (const type of ["text", "password", "number", "search"]) {
    assert.equal(keyBelongsToControl({ tag: "input", type }, "z"), true, type);         // typing
    assert.equal(keyBelongsToControl({ tag: "input", type }, " "), true, type);
  }
  assert.equal(keyBelongsToControl({ tag: "textarea" }, "n"), true);
  assert.equal(keyBelongsToControl({ tag: "div", editable: true }, "n"), true);
  assert.equal(keyBelongsToControl({ tag: "input", type: "checkbox" }, " "), true);     // toggles the box
  assert.equal(keyBelongsToControl({ tag: "input", type: "checkbox" }, "z"), false);    // a shortcut
  assert.equal(keyBelongsToControl({ tag: "input", type: "checkbox" }, "ArrowRight"), false);
  assert.equal(keyBelongsToControl({ tag: "input", type: "range" }, "ArrowLeft"), true);  // moves the slider
  assert.equal(keyBelongsToControl({ tag: "input", type: "range" }, "c"), false);
  assert.equal(keyBelongsToControl({ tag: "input", type: "range" }, " "), false);
  assert.equal(keyBelongsToControl({ tag: "button" }, "Enter"), true);
  assert.equal(keyBelongsToControl({ tag: "button" }, "n"), false);
  assert.equal(keyBelongsToControl({ tag: "input", type: "file" }, "z"), false);
  assert.equal(keyBelongsToControl({ tag: "canvas" }, " "), false);
});
