#!/usr/bin/env node
/**
 * Bundles the `hob` command line (daemon/cli/main.ts) for `npm run build`:
 * dist/cli/hob.js, the entry with what every command needs (commander, the
 * client, the error and output helpers), and one chunk per lazily loaded
 * command module (daemon/cli/program.ts COMMAND_MODULES), each loaded only by
 * the command that needs it. Node then resolves and reads a few files
 * instead of hundreds (docs/architecture.md §23).
 *
 *   node daemon/cli/bundle.mjs [--outdir DIR]
 *
 * `hob daemon` imports hobd from tsc's output (dist/daemon/hobd.js), not from
 * the bundle: hobd finds its migrations and dashboard assets next to its own
 * modules.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Lets the CommonJS dependencies esbuild wraps (commander, ws) `require` node's modules from an ES module. */
const requireBanner = "import { createRequire as __hobCreateRequire } from 'node:module';\nconst require = __hobCreateRequire(import.meta.url);";

/** @param {{ outdir: string }} options */
export async function bundleCli(options) {
  const outdir = path.resolve(options.outdir);
  await rm(outdir, { recursive: true, force: true });
  const esbuild = await import('esbuild');
  const hobd = path.relative(outdir, path.join(repoRoot, 'dist', 'daemon', 'hobd.js'));
  await esbuild.build({
    entryPoints: { hob: path.join(repoRoot, 'daemon', 'cli', 'main.ts') },
    outdir,
    chunkNames: 'hob-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: requireBanner },
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
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: 'string', default: path.join(repoRoot, 'dist', 'cli') } } });
  await bundleCli({ outdir: values.outdir });
  process.stdout.write(`cli bundle: ${path.relative(process.cwd(), values.outdir)}/hob.js\n`);
}
