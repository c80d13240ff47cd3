/**
 * Checks of guest images: the tools an image build runs (guest-image/build),
 * and which images the pool holds (asked of hobd when it runs, else read from
 * the pool directory).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageList } from '../schemas.js';
import type { DaemonFacts } from './daemon.js';
import { findProgram, programVersion } from './programs.js';
import { check, type Check, type DoctorContext } from './types.js';

/** Programs an image build runs and the Debian package of each (see guest-image/build/host.ts). */
const BUILD_TOOLS: ReadonlyArray<readonly [string, string]> = [
  ['mmdebstrap', 'mmdebstrap'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['debugfs', 'e2fsprogs'],
];

/** `image-build`: mmdebstrap and friends, needed by `hob images build`. */
export async function checkImageBuildTools(ctx: DoctorContext): Promise<Check> {
  const missing: string[] = [];
  for (const [tool, pkg] of BUILD_TOOLS) if (!(await findProgram(tool, ctx.env))) missing.push(`${tool} (${pkg})`);
  if (missing.length > 0) {
    const pkgs = [...new Set(BUILD_TOOLS.filter(([t]) => missing.some((m) => m.startsWith(`${t} `))).map(([, p]) => p))];
    return check('image-build', 'warn', `missing ${missing.join(', ')}: \`hob images build\` cannot run (existing images keep working)`, `apt-get install ${pkgs.join(' ')}`);
  }
  const mmdebstrap = await findProgram('mmdebstrap', ctx.env);
  const version = mmdebstrap ? await programVersion(mmdebstrap) : null;
  return check('image-build', 'ok', `${version ?? 'mmdebstrap'}, e2fsprogs: images can be built`);
}

/** Image names in the pool directory, or undefined when it cannot be read. */
async function imagesOnDisk(ctx: DoctorContext): Promise<string[] | undefined> {
  const config = ctx.config;
  if (!config) return undefined;
  const root = config.pool.path ?? join(config.stateDir, 'pool');
  try {
    const entries = await readdir(join(root, 'images'), { withFileTypes: true });
    // Names starting with "_" are imports in progress (core/images.ts).
    return entries.filter((e) => e.isDirectory() && /^[a-z0-9]/.test(e.name)).map((e) => e.name).sort();
  } catch {
    return undefined;
  }
}

/** `images`: the pool holds the image new sandboxes are made from. */
export async function checkImages(ctx: DoctorContext, daemon: DaemonFacts): Promise<Check> {
  const wanted = ctx.config?.sandboxDefaults.image ?? 'dev';
  let names: string[] | undefined;
  let source = 'hobd';
  if (daemon.client) {
    try {
      names = (await daemon.client.json('GET', '/v1/images', ImageList)).images.map((i) => i.name).sort();
    } catch {
      names = undefined;
    }
  }
  if (names === undefined) {
    names = await imagesOnDisk(ctx);
    source = 'the pool directory';
  }
  if (names === undefined) {
    return check('images', 'warn', 'unknown: hobd does not answer and the pool cannot be read here', 'start hobd, or run `sudo hob doctor`');
  }
  const list = names.length > 0 ? names.join(', ') : 'none';
  if (!names.includes(wanted)) {
    return check(
      'images',
      'warn',
      `images (from ${source}): ${list}; the default image "${wanted}" is missing, so \`hob create\` without --image fails`,
      `hob images build ${wanted === 'minimal' ? 'minimal --variant minimal' : wanted} (the dev image takes many minutes the first time)`,
    );
  }
  return check('images', 'ok', `images (from ${source}): ${list}`);
}
