'use strict';
/**
 * dist/cli/hob.js: starts the `hob` bundle (cli.js and its chunks, made by
 * daemon/cli/bundle.mjs) with the V8 code cache the build wrote next to each
 * file (`<file>.cache`), so that a command does not parse and compile zod,
 * commander and its own code again on every run (docs/architecture.md §23;
 * the guest agent starts the same way, §28). Node 20 has no module compile
 * cache, but vm.Script takes V8 `cachedData`. A cache that is missing or that
 * V8 rejects (another Node, other flags) costs only the compile it would save.
 *
 * Each file is compiled in Node's CommonJS wrapper plus one parameter,
 * `__hobImport`: code in a vm.Script cannot `import()` (Node 20 only allows it
 * behind --experimental-vm-modules), so the bundle's one ES module import,
 * hobd for `hob daemon`, is made here, in a file Node loaded itself.
 *
 * HOB_CLI_WRITE_CODE_CACHE=1 (the build, never a user): at exit, write the
 * cache of every file compiled, with the functions the run compiled in it.
 */
const { readFileSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join, resolve } = require('node:path');
const { pathToFileURL } = require('node:url');
const { Script } = require('node:vm');

const writeCache = process.env.HOB_CLI_WRITE_CODE_CACHE === '1';
/** The bundle's files loaded so far, by path: each runs once, as node's own modules do. */
const loaded = new Map();
const compiled = [];

/** Loads one file of the bundle (a path next to this one) and returns its exports. */
function load(file) {
  const known = loaded.get(file);
  if (known !== undefined) return known.exports;
  const module = { exports: {} };
  loaded.set(file, module);
  let cachedData;
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  const source = readFileSync(file, 'utf8');
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __hobImport) {${source}\n})`, { filename: file, cachedData });
  if (writeCache) compiled.push({ file, script });
  const dir = dirname(file);
  const nodeRequire = createRequire(file);
  /** The bundle's own files (`./hob-*.js`) load here; node's modules and package.json through node. */
  const requireFromBundle = (id) => (id.startsWith('./') ? load(join(dir, id)) : nodeRequire(id));
  const importModule = (specifier) => import(pathToFileURL(resolve(dir, specifier)).href);
  script.runInThisContext().call(module.exports, module.exports, requireFromBundle, module, file, dir, importModule);
  return module.exports;
}

if (writeCache) {
  process.on('exit', () => {
    for (const { file, script } of compiled) writeFileSync(`${file}.cache`, script.createCachedData(), { mode: 0o644 });
  });
}
load(join(__dirname, 'cli.js'));
