// The message bar under the header: what went wrong, in words a person can act on, with Retry where trying again
// can help. The modes get it as Messages.

/**
 * What a mode may say.
 * @typedef {object} Messages
 * @property {(error: unknown, retry?: (() => void) | null) => void} notify  shows the error (Retry runs `retry`)
 * @property {() => void} clearMessage  hides the bar
 */

export class MessageBar {
  /** @param {{ box: HTMLElement, text: HTMLElement, retry: HTMLButtonElement, dismiss: HTMLButtonElement }} el */
  constructor(el) {
    this.el = el;
    el.dismiss.addEventListener("click", () => this.clear());
  }

  /** @param {unknown} error @param {(() => void) | null} [retry] */
  notify(error, retry = null) {
    console.error(error);
    this.el.text.textContent = error instanceof Error ? error.message : String(error);
    this.el.retry.hidden = !retry;
    this.el.retry.onclick = () => { this.clear(); retry?.(); };
    this.el.box.hidden = false;
  }

  clear() {
    this.el.box.hidden = true;
  }

  /** @returns {Messages} */
  get forModes() {
    return { notify: (error, retry) => this.notify(error, retry), clearMessage: () => this.clear() };
  }
}
