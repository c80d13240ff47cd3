#!/usr/bin/env node
/**
 * Bundles the `hob` command line (daemon/cli/main.ts) for `npm run build`:
 * dist/cli/cli.js, the entry with what every command needs (commander, the
 * client, the error and output helpers), and one chunk per lazily loaded
 * command module (daemon/cli/program.ts COMMAND_MODULES), each loaded only by
 * the command that needs it. Node then resolves and reads a few files
 * instead of hundreds (docs/architecture.md §23).
 *
 * dist/cli/hob.js, what `hob` runs, is daemon/cli/bundle-loader.cjs: it runs
 * cli.js and its chunks with the V8 code caches this build writes
 * (`<file>.cache`, from one `hob --help` run, which loads every command).
 *
 * The files are CommonJS: Node starts an ES module entry through its ESM
 * loader, which costs a `hob ls` about 6 ms of its ~95, and a vm.Script (the
 * code cache) has no ESM loader at all. esbuild splits code only in ESM, so
 * the bundle is made in ESM and each file is then turned into CommonJS; what
 * a command loads lazily is `require`d, not `import()`ed, and hobd, the one
 * ES module, is imported by the loader (`__hobImport`).
 *
 *   node daemon/cli/bundle.mjs [--outdir DIR]
 *
 * `hob daemon` imports hobd from tsc's output (dist/daemon/hobd.js), not from
 * the bundle: hobd finds its migrations and dashboard assets next to its own
 * modules.
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * What a command loads lazily, as esbuild's ESM output imports it: a chunk (chunkNames below)
 * or one of node's modules (whose exports `require` returns as the same named properties).
 */
const LAZY_IMPORT = /\bimport\("(\.\/hob-[A-Z0-9]+\.js|node:[a-z_/]+)"\)/g;
/** An ES module outside the bundle (hobd), imported by the loader. */
const MODULE_IMPORT = /\bimport\(("\.\.?\/[^"]+\.js")\)/g;

/**
 * @param {{ outdir: string, codeCache?: boolean }} options codeCache (default true): write the
 * V8 code caches, with the node that runs this build (the one that will run hob).
 */
export async function bundleCli(options) {
  const outdir = path.resolve(options.outdir);
  await rm(outdir, { recursive: true, force: true });
  const esbuild = await import('esbuild');
  const hobd = path.relative(outdir, path.join(repoRoot, 'dist', 'daemon', 'hobd.js'));
  const result = await esbuild.build({
    entryPoints: { cli: path.join(repoRoot, 'daemon', 'cli', 'main.ts') },
    outdir,
    chunkNames: 'hob-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    plugins: [
      {
        // zod's namespace object carries every locale (half of its code); hob speaks English only.
        name: 'zod-english-only',
        setup(build) {
          build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
            /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir) ? { path: path.join(args.resolveDir, '..', 'locales', 'en.js'), namespace: 'zod-en' } : undefined,
          );
          build.onLoad({ filter: /.*/, namespace: 'zod-en' }, (args) => ({
            contents: `export { default as en } from ${JSON.stringify(args.path)};`,
            resolveDir: path.dirname(args.path),
            loader: 'js',
          }));
        },
      },
      {
        // commander loads child_process for executable subcommands, which hob has none of: load it when used.
        name: 'commander-child-process-lazily',
        setup(build) {
          build.onResolve({ filter: /^node:child_process$/ }, (args) =>
            /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined,
          );
          build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
            contents: 'module.exports = { spawn: (...args) => require("node:child_process").spawn(...args) };',
            loader: 'js',
          }));
        },
      },
      {
        name: 'hobd-from-tsc',
        setup(build) {
          build.onResolve({ filter: /(^|\/)hobd\.js$/ }, () => ({ path: hobd.startsWith('.') ? hobd : `./${hobd}`, external: true }));
        },
      },
    ],
    absWorkingDir: repoRoot,
    logLevel: 'warning',
    legalComments: 'none',
    sourcemap: false,
    minify: false,
  });
  await mkdir(outdir, { recursive: true });
  await writeFile(path.join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
  for (const file of result.outputFiles) await writeFile(file.path, await toCommonJs(esbuild, file.text, path.basename(file.path)));
  await copyFile(path.join(repoRoot, 'daemon', 'cli', 'bundle-loader.cjs'), path.join(outdir, 'hob.js'));
  if (options.codeCache !== false) {
    const { execa } = await import('execa');
    await execa(process.execPath, [path.join(outdir, 'hob.js'), '--help'], { env: { HOB_CLI_WRITE_CODE_CACHE: '1' }, stdout: 'ignore' });
  }
}

/**
 * One ESM output file as CommonJS: chunks loaded lazily are required (an `import()` would
 * start the ESM loader after all), hobd is imported through the loader's `__hobImport`,
 * and `import.meta.url` is the file's URL.
 * @param {typeof import('esbuild')} esbuild
 * @param {string} code
 * @param {string} name
 */
async function toCommonJs(esbuild, code, name) {
  const required = code.replace(LAZY_IMPORT, 'Promise.resolve().then(() => require("$1"))').replace(MODULE_IMPORT, '__hobImport($1)');
  if (/\bimport\(/.test(required)) throw new Error(`${name}: an import() the loader cannot serve; update LAZY_IMPORT or MODULE_IMPORT`);
  const usesMeta = required.includes('import.meta');
  const result = await esbuild.transform(required, {
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcefile: name,
    logLevel: 'warning',
    define: usesMeta ? { 'import.meta.url': '__hobModuleUrl' } : {},
    banner: `"use strict";${usesMeta ? '\nconst __hobModuleUrl = require("node:url").pathToFileURL(__filename).href;' : ''}`,
  });
  return result.code;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: path.join(repoRoot, 'dist', 'cli') } } });
  await bundleCli({ outdir: values.outdir });
  process.stdout.write(`cli bundle: ${path.relative(process.cwd(), values.outdir)}/hob.js\n`);
}
