/**
 * The on-disk cache of the image builder.
 *
 * Layout under the cache root ($HOB_IMAGE_CACHE or /var/cache/hob/guest-images):
 *   base/<variant>-<arch>-<baseKey>.tar   the mmdebstrap tree (uncompressed tar)
 *   images/<variant>-<arch>-<key16>/      kernel, initramfs.img, rootfs.img, manifest.json
 *   tmp/                                  work directories of running builds
 *   locks/<name>.lock/                    one directory per build in progress (holds `pid`)
 *
 * Entries appear atomically: they are written under tmp/ and renamed into
 * place, so a reader never sees a partial entry. Concurrent builds of the same
 * key (tests and a manual build) serialise on a lock; a lock whose owner died
 * is taken over.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImageBuildError } from './errors.js';

export const defaultCacheRoot = '/var/cache/hob/guest-images';

export function resolveCacheRoot(dir?: string): string {
  return path.resolve(dir ?? process.env.HOB_IMAGE_CACHE ?? defaultCacheRoot);
}

export interface CacheLayout {
  readonly root: string;
  readonly baseDir: string;
  readonly imagesDir: string;
  readonly tmpDir: string;
  readonly locksDir: string;
}

export async function openCache(root: string): Promise<CacheLayout> {
  const layout: CacheLayout = {
    root,
    baseDir: path.join(root, 'base'),
    imagesDir: path.join(root, 'images'),
    tmpDir: path.join(root, 'tmp'),
    locksDir: path.join(root, 'locks'),
  };
  for (const d of [layout.baseDir, layout.imagesDir, layout.tmpDir, layout.locksDir]) {
    await mkdir(d, { recursive: true });
  }
  return layout;
}

/**
 * A fresh work directory under tmp/ (same filesystem as the entries, so rename
 * works). Its name carries our pid so that a later build can tell it is abandoned.
 */
export async function makeWorkDir(c: CacheLayout, prefix: string): Promise<string> {
  return mkdtemp(path.join(c.tmpDir, `${prefix}-${process.pid}-`));
}

/** Mount points at or below `dir`, from /proc/self/mountinfo. */
async function mountsBelow(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return info
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(prefix));
}

/**
 * rm -rf that refuses to descend into mounts: a chroot left behind by a killed
 * mmdebstrap may still have /proc, /sys or /dev mounted, and deleting through
 * those would damage the host.
 */
export async function removeTree(dir: string): Promise<void> {
  const mounts = await mountsBelow(path.resolve(dir));
  if (mounts.length > 0) {
    throw new ImageBuildError(`refusing to delete ${dir}: still mounted below it: ${mounts.join(', ')}`);
  }
  await rm(dir, { recursive: true, force: true });
}

/** True while process `pid` exists (EPERM: it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding the lock `name`. Waits (polling) while another live process
 * holds it, calling `onWait` once; takes over a lock whose owner is gone.
 */
export async function withLock<T>(
  c: Pick<CacheLayout, 'locksDir'>,
  name: string,
  fn: () => Promise<T>,
  onWait?: (ownerPid: number) => void,
  signal?: AbortSignal,
): Promise<T> {
  const lockDir = path.join(c.locksDir, `${name}.lock`);
  const pidFile = path.join(lockDir, 'pid');
  let told = false;
  for (;;) {
    signal?.throwIfAborted();
    try {
      await mkdir(lockDir);
      await writeFile(pidFile, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    if (Number.isFinite(owner) && owner !== process.pid && pidAlive(owner)) {
      if (!told) onWait?.(owner);
      told = true;
      await sleep(500);
      continue;
    }
    if (!Number.isFinite(owner)) {
      // The owner may be between mkdir and writeFile: give it a moment before
      // treating the lock as abandoned.
      const age = Date.now() - (await stat(lockDir).catch(() => ({ mtimeMs: 0 }))).mtimeMs;
      if (age < 5_000) {
        await sleep(200);
        continue;
      }
    }
    await rm(lockDir, { recursive: true, force: true });
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/**
 * Moves a finished work directory or file to its final place. If an entry of
 * that name appeared meanwhile (another builder won), ours is discarded.
 */
export async function commitEntry(tmpPath: string, finalPath: string): Promise<void> {
  try {
    await rename(tmpPath, finalPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(finalPath)) {
      await rm(tmpPath, { recursive: true, force: true });
      return;
    }
    throw new ImageBuildError(`could not move ${tmpPath} to ${finalPath}`, { cause: err });
  }
}

/** Marks an entry as recently used (pruning keeps the most recently used ones). */
export async function touchEntry(p: string): Promise<void> {
  const now = new Date();
  await utimes(p, now, now).catch(() => undefined);
}

/**
 * Deletes all but the `keep` most recently used entries in `dir` whose name
 * starts with `prefix`, never `protect` and never one used within `graceMs`
 * (a test or the daemon may be copying it right now). The daemon copies images
 * into its pool, so VMs never run from the cache.
 */
export async function pruneEntries(
  dir: string,
  prefix: string,
  keep: number,
  protect: string,
  graceMs = 30 * 60_000,
): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => n.startsWith(prefix) && path.join(dir, n) !== protect);
  const withTimes = await Promise.all(
    names.map(async (n) => ({ n, t: (await stat(path.join(dir, n)).catch(() => ({ mtimeMs: 0 }))).mtimeMs })),
  );
  withTimes.sort((a, b) => b.t - a.t);
  const now = Date.now();
  const doomed = withTimes
    .slice(Math.max(0, keep - 1))
    .filter((e) => now - e.t > graceMs)
    .map((e) => path.join(dir, e.n));
  for (const d of doomed) await rm(d, { recursive: true, force: true });
  return doomed;
}

/**
 * Removes work directories of builds whose process is gone. Directories with
 * mounts still below them are left alone (removeTree refuses) and reported.
 */
export async function cleanStaleWork(c: CacheLayout): Promise<string[]> {
  const problems: string[] = [];
  for (const n of await readdir(c.tmpDir).catch(() => [] as string[])) {
    const pid = Number.parseInt(/^[a-z]+-(\d+)-/.exec(n)?.[1] ?? '', 10);
    if (!Number.isFinite(pid) || pid === process.pid || pidAlive(pid)) continue;
    try {
      await removeTree(path.join(c.tmpDir, n));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}
