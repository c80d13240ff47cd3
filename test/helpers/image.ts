/**
 * The guest image for tests: the `minimal` variant, built through the image
 * cache ($HOB_IMAGE_CACHE or /var/cache/hob/guest-images), so only the first
 * run on a machine pays for the Debian tree (a few minutes) and later runs
 * reuse it, rebuilding the image itself (tens of seconds) only when the agent,
 * the init scripts or the builder changed.
 *
 * test/global-setup.ts calls this once before the tests; a test file calling
 * it again finds the image in the cache within a second.
 *
 * Needs root, mmdebstrap and e2fsprogs; throws ImageBuildError (with the
 * reason) otherwise. Callers that can do without the image should check
 * `imageBuildUnavailable()` and skip.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildImage, type GuestImagePaths, type ProgressListener } from '../../guest-image/build/index.js';

export type { GuestImagePaths };

let pending: Promise<GuestImagePaths> | undefined;

/** Builds or reuses the minimal test image. The result is memoised per process. */
export function ensureTestImage(onProgress?: ProgressListener): Promise<GuestImagePaths> {
  pending ??= buildImage({ variant: 'minimal' }, onProgress).then((r) => r.paths);
  return pending;
}

/**
 * Why the image cannot be built on this machine (for a skip message), or null
 * if it can. Checks only the cheap preconditions: root and the tools.
 */
export function imageBuildUnavailable(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'building the guest image needs root';
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].filter(Boolean);
  for (const tool of ['mmdebstrap', 'mkfs.ext4', 'debugfs']) {
    if (!dirs.some((d) => existsSync(path.join(d, tool)))) return `building the guest image needs ${tool} (not on PATH)`;
  }
  return null;
}
