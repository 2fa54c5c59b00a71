// Hands bytes to the browser as a download.

/**
 * @param {Uint8Array | Blob} content @param {string} filename @param {string} [type] MIME type of bytes
 */
export function download(content, filename, type = "application/octet-stream") {
  const blob = content instanceof Blob ? content : new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (content)], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
