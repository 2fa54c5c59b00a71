// Copies the page's run-time libraries from node_modules (the versions package-lock.json pins) into
// service/web/static/vendor/, with their licenses: the page loads them from there through the import map in
// index.html, never from a CDN. `npm run vendor` writes the copies; the unit tests check they are current.
//
// Only the browser ES modules are copied (no type declarations, no source maps: the trailing sourceMappingURL
// comment is dropped so that the browser asks for no file that is not shipped).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const WEB = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = dirname(dirname(WEB));
export const VENDOR_DIR = join(WEB, "static", "vendor");

/**
 * One vendored package: its folder of browser modules in node_modules, and the entry the import map names.
 * @typedef {{ name: string, from: string, only?: string[], entry: string, license?: string }} Library
 *   license: the license file's name in the package when it is not LICENSE (shipped as LICENSE)
 */

/** @type {Library[]} */
export const LIBRARIES = [
  { name: "fflate", from: "esm", only: ["browser.js"], entry: "browser.js" },
  { name: "fast-png", from: "lib", entry: "index.js" },
  { name: "iobuffer", from: "lib", entry: "iobuffer.js" },
  { name: "idb-keyval", from: "dist", only: ["index.js"], entry: "index.js", license: "LICENCE" },
];

/** @param {string} dir @returns {string[]} every file under dir, as paths relative to it */
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(join(dir, d.name)).map((f) => join(d.name, f)) : [d.name]);
}

/** @param {string} text */
function withoutSourceMap(text) {
  return text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n");
}

/**
 * What static/vendor/ must hold: path relative to it -> content.
 * @returns {Map<string, string>}
 */
export function plan() {
  /** @type {Map<string, string>} */
  const files = new Map();
  for (const lib of LIBRARIES) {
    const pkg = join(ROOT, "node_modules", lib.name);
    if (!existsSync(pkg)) throw new Error(`node_modules/${lib.name} is missing: run npm ci first`);
    const source = join(pkg, lib.from);
    const modules = (lib.only ?? walk(source)).filter((f) => f.endsWith(".js"));
    for (const file of modules) {
      files.set(join(lib.name, file), withoutSourceMap(readFileSync(join(source, file), "utf8")));
    }
    files.set(join(lib.name, "LICENSE"), readFileSync(join(pkg, lib.license ?? "LICENSE"), "utf8"));
  }
  return files;
}

/** @returns {Map<string, string>} what static/vendor/ holds now */
export function onDisk() {
  if (!existsSync(VENDOR_DIR)) return new Map();
  return new Map(walk(VENDOR_DIR).map((f) => [f, readFileSync(join(VENDOR_DIR, f), "utf8")]));
}

function write() {
  rmSync(VENDOR_DIR, { recursive: true, force: true });
  for (const [file, text] of plan()) {
    mkdirSync(dirname(join(VENDOR_DIR, file)), { recursive: true });
    writeFileSync(join(VENDOR_DIR, file), text);
  }
  console.log(`vendored ${LIBRARIES.map((l) => l.name).join(", ")} into ${relative(ROOT, VENDOR_DIR)}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) write();
