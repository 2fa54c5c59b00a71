// The vendored libraries are the ones package-lock.json pins: static/vendor holds exactly what `npm run vendor`
// writes from node_modules (a stale or hand-edited copy fails here).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { LIBRARIES, onDisk, plan, VENDOR_DIR } from "../../../service/web/scripts/vendor.js";

test("static/vendor is what npm run vendor writes from node_modules", () => {
  const expected = plan(), actual = onDisk();
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), "run `npm run vendor`");
  for (const [file, content] of expected) {
    const found = actual.get(file);
    const same = Buffer.isBuffer(content) ? Buffer.isBuffer(found) && content.equals(found) : found === content;
    assert.ok(same, `${file} differs: run \`npm run vendor\``);
  }
});

test("each vendored library has its license and an entry the import map can name", () => {
  const files = plan();
  for (const lib of LIBRARIES) {
    assert.match(String(files.get(`${lib.name}/LICENSE`) ?? ""), /MIT License|Apache License, Version 2\.0/, lib.name);
    assert.ok(files.has(`${lib.name}/${lib.entry}`), `${lib.name}/${lib.entry}`);
  }
});

test("the page's import map names each vendored library's entry", () => {
  const html = readFileSync(join(VENDOR_DIR, "..", "index.html"), "utf8");
  const block = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(block, "index.html has an import map");
  const expected = Object.fromEntries(LIBRARIES.map((lib) => [lib.name, `./web/vendor/${lib.name}/${lib.entry}`]));
  assert.deepEqual(JSON.parse(block[1]).imports, expected);
});
