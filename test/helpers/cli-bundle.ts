/**
 * The `hob` CLI as one file, for running it as another uid: that uid may not be able to
 * read the checkout (a clone under /root, or any 0700 folder), but it can read a bundle
 * written to a directory it may traverse. Built with esbuild, dependencies included.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const REPO = resolve(import.meta.dirname, '../..');

/** Writes the CLI bundle into `dir` (made 0755) and returns its path (0644). */
export async function bundleCli(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  const outfile = join(dir, 'hob.mjs');
  await build({
    entryPoints: [join(REPO, 'daemon/cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    logLevel: 'error',
    // Bundled CommonJS dependencies call require().
    banner: { js: "import { createRequire as __hobCreateRequire } from 'node:module'; const require = __hobCreateRequire(import.meta.url);" },
  });
  await chmod(outfile, 0o644);
  return outfile;
}
