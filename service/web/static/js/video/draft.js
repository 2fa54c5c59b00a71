// Video mode's document as plain data for the browser's storage (persist.js) and back: the objects, their click
// sets on each frame, every frame's masks as the sessions replied them (RLE), the frame shown and the live one,
// the session's name (to resume it) and the file's name and rate. The file itself is kept apart, once per file.
// Pure: no DOM, no storage.
import { clickKey } from "../objects.js";
import { VideoState } from "./state.js";
/** @import { ClickSet, VideoObject } from "./state.js" */
/** @import { TrackedObject } from "../socket.js" */

/** Bumped when the shape below changes: older drafts are then dropped, never misread. */
export const VIDEO_DRAFT_VERSION = 1;

/**
 * @typedef {{ version: number, fileName: string, fps: number, session: string | null, objects: VideoObject[],
 *   clickSets: ClickSet[], frames: [number, TrackedObject[], TrackedObject[]][], current: number, live: number,
 *   selectedId: number | null, unexported: boolean }} VideoDraft
 */

/**
 * @param {VideoState} state @param {{ fileName: string, fps: number, session: string | null, unexported: boolean }} meta
 * @returns {VideoDraft}
 */
export function toVideoDraft(state, { fileName, fps, session, unexported }) {
  return {
    version: VIDEO_DRAFT_VERSION, fileName, fps, session, unexported,
    objects: [...state.objects.values()].map((o) => ({ ...o })),
    clickSets: [...state.clickSets.values()].map((s) => structuredClone(s)),
    frames: [...state.frames].map(([f, e]) => [f, [...e.fwd.values()], [...e.bwd.values()]]),
    current: state.current, live: state.live, selectedId: state.selectedId,
  };
}

/** @param {unknown} draft @returns {{ state: VideoState, draft: VideoDraft } | null} null: none, or another version */
export function fromVideoDraft(draft) {
  const d = /** @type {VideoDraft | null} */ (draft);
  if (!d || d.version !== VIDEO_DRAFT_VERSION) return null;
  const state = new VideoState();
  for (const o of d.objects) state.objects.set(o.id, { ...o });
  for (const s of d.clickSets) state.clickSets.set(clickKey(s.frame, s.obj_id), s);
  for (const [f, fwd, bwd] of d.frames) {
    state.frames.set(f, { fwd: new Map(fwd.map((o) => [o.obj_id, o])), bwd: new Map(bwd.map((o) => [o.obj_id, o])) });
  }
  state.current = d.current;
  state.live = d.live;
  state.selectedId = d.selectedId;
  return { state, draft: d };
}
