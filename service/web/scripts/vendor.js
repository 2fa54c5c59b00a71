// Copies the page's run-time libraries from node_modules (the versions package-lock.json pins) into
// service/web/static/vendor/, with their licenses: the page loads them from there through the import map in
// index.html, never from a CDN. `npm run vendor` writes the copies; the unit tests check they are current.
//
// Only the browser ES modules (and WebAssembly) are copied (no type declarations, no source maps: the trailing
// sourceMappingURL comment is dropped so that the browser asks for no file that is not shipped). A package that
// publishes no LICENSE file (onnxruntime-web) gets the MIT text its package.json and file headers name.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const WEB = dirname(dirname(fileURLToPath(import.meta.url)));
export const ROOT = dirname(dirname(WEB));
export const VENDOR_DIR = join(WEB, "static", "vendor");

/**
 * One vendored package: its folder of browser modules in node_modules, and the entry the import map names.
 * @typedef {{ name: string, from: string, only?: string[], entry: string, license?: string, mitHolder?: string }} Library
 *   license: the license file's name in the package when it is not LICENSE (shipped as LICENSE);
 *   mitHolder: the copyright holder of an MIT package that ships no license file at all
 */

/** @type {Library[]} */
export const LIBRARIES = [
  { name: "fflate", from: "esm", only: ["browser.js"], entry: "browser.js" },
  { name: "fast-png", from: "lib", entry: "index.js" },
  { name: "iobuffer", from: "lib", entry: "iobuffer.js" },
  { name: "idb-keyval", from: "dist", only: ["index.js"], entry: "index.js", license: "LICENCE" },
  // SAM 2's decoder in the page's worker (js/decoder): the WebAssembly build, its loader bundled in the module.
  {
    name: "onnxruntime-web", from: "dist", only: ["ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm"],
    entry: "ort.wasm.bundle.min.mjs", mitHolder: "Microsoft Corporation",
  },
];

const MIT = `MIT License

Copyright (c) HOLDER

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

/** @param {string} file @returns {boolean} copied as bytes, not as text */
const isBinary = (file) => file.endsWith(".wasm");

/** @param {Library} lib @param {string} pkg */
function license(lib, pkg) {
  if (!lib.mitHolder) return readFileSync(join(pkg, lib.license ?? "LICENSE"), "utf8");
  const declared = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).license;
  if (declared !== "MIT") throw new Error(`${lib.name} declares license ${declared}, not MIT`);
  return MIT.replace("HOLDER", lib.mitHolder);
}

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
 * What static/vendor/ must hold: path relative to it -> content (text, or bytes for WebAssembly).
 * @returns {Map<string, string | Buffer>}
 */
export function plan() {
  /** @type {Map<string, string | Buffer>} */
  const files = new Map();
  for (const lib of LIBRARIES) {
    const pkg = join(ROOT, "node_modules", lib.name);
    if (!existsSync(pkg)) throw new Error(`node_modules/${lib.name} is missing: run npm ci first`);
    const source = join(pkg, lib.from);
    const modules = (lib.only ?? walk(source)).filter((f) => /\.(m?js|wasm)$/.test(f));
    for (const file of modules) {
      const path = join(source, file);
      files.set(join(lib.name, file), isBinary(file) ? readFileSync(path) : withoutSourceMap(readFileSync(path, "utf8")));
    }
    files.set(join(lib.name, "LICENSE"), license(lib, pkg));
  }
  return files;
}

/** @returns {Map<string, string | Buffer>} what static/vendor/ holds now */
export function onDisk() {
  if (!existsSync(VENDOR_DIR)) return new Map();
  return new Map(walk(VENDOR_DIR).map((f) => [f, readFileSync(join(VENDOR_DIR, f), isBinary(f) ? undefined : "utf8")]));
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
