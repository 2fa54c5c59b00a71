// The page's drafts in the browser's IndexedDB (through idb-keyval, vendored from npm): each mode's document is
// written shortly after it changes and read back when the page loads, so a reload or a closed tab loses nothing.
// Storage can be missing or full (private windows, quotas): then the page works as before and says so once.
import { createStore, del, get, set } from "idb-keyval";

const STORE = createStore("sam2refiner", "drafts");

/**
 * Writes one value now (a large one written once, such as a video file, apart from the document written often).
 * @param {string} key @param {unknown} value  null deletes @returns {Promise<void>}
 */
export function keep(key, value) {
  return value === null ? del(key, STORE) : set(key, value, STORE);
}

/** What was kept under a key, or null (storage missing too). @param {string} key @returns {Promise<unknown>} */
export async function kept(key) {
  try {
    return (await get(key, STORE)) ?? null;
  } catch {
    return null;
  }
}

export class DraftKeeper {
  /**
   * @param {string} key  one per mode @param {() => unknown} snapshot  the document as plain data (null: none)
   * @param {(error: unknown) => void} onError
   * @param {number} [delayMs]  the longest a change waits to be written: the changes meanwhile (a drag, a stream's
   *   parts, frames played) are one write
   */
  constructor(key, snapshot, onError, delayMs = 250) {
    this.key = key;
    this.snapshot = snapshot;
    this.onError = onError;
    this.delayMs = delayMs;
    // A tab being closed or hidden writes what is pending at once.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden" && this.timer) this.flush();
    });
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {Promise<void>} the last write (the tests and the page's unload wait on it) */
    this.written = Promise.resolve();
    this.failed = false;
  }

  /** What was kept for this mode, or null. @returns {Promise<unknown>} */
  async load() {
    try {
      return (await get(this.key, STORE)) ?? null;
    } catch (e) {
      this.fail(e);
      return null;
    }
  }

  /** Writes the document within delayMs (a write already pending takes this change too). */
  changed() {
    if (!this.timer) this.timer = setTimeout(() => this.flush(), this.delayMs);
  }

  /** Writes the document now. @returns {Promise<void>} */
  flush() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const value = this.snapshot();
    this.written = this.written
      .then(() => (value === null ? del(this.key, STORE) : set(this.key, value, STORE)))
      .catch((e) => this.fail(e));
    return this.written;
  }

  /** @param {unknown} e */
  fail(e) {
    if (this.failed) return;
    this.failed = true;
    this.onError(new Error(`This browser does not keep the page's work (${e instanceof Error ? e.message : e}): `
      + "a reload will lose it; export what you want to keep."));
  }
}
