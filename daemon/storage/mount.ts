/**
 * Finding or making the btrfs filesystem the pool lives on: an existing btrfs
 * directory, the state dir's own btrfs, or the embedded image file
 * `<stateDir>/pool.img` loop-mounted at `<stateDir>/pool`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { HobError, PoolFullError } from '../errors.js';
import { fsError, run } from './errors.js';

/** statfs f_type of btrfs (BTRFS_SUPER_MAGIC). */
const BTRFS_MAGIC = 0x9123683e;

/** Default mount options of the embedded pool. */
export const DEFAULT_MOUNT_OPTIONS = 'compress=zstd:1,discard=async';
/** `imageSize: 'auto'` takes this share of the free space of the state dir's filesystem ... */
const AUTO_SHARE = 0.8;
/** ... but at most this much ... */
const AUTO_MAX = 1024 ** 4;
/** ... and needs at least this much (mkfs.btrfs's own minimum is ~114 MiB). */
const MIN_IMAGE = 256 * 1024 ** 2;

/** How the pool's filesystem was found. */
export type PoolKind =
  /** `pool.path` from the config: a btrfs directory the user manages. */
  | 'external'
  /** `<stateDir>/pool`, a subvolume on the state dir's own btrfs. */
  | 'directory'
  /** `<stateDir>/pool.img` loop-mounted at `<stateDir>/pool` by hob. */
  | 'loop';

export interface PoolLocation {
  /** Real path of the pool root. */
  readonly root: string;
  readonly kind: PoolKind;
  /** The image file, for kind 'loop'. */
  readonly imageFile?: string;
  /** True if this call created the filesystem (mkfs) or the pool subvolume. */
  readonly created: boolean;
  /** True if this call mounted the image (it was not mounted before). */
  readonly mounted: boolean;
}

export interface LocateOptions {
  stateDir: string;
  /** Existing btrfs directory (config `pool.path`); unset = embedded pool. */
  path?: string | undefined;
  /** Size of a new image file, bytes or 'auto' (see config `pool.imageSize`). Default 'auto'. */
  imageSize?: 'auto' | number | undefined;
  /** Mount options for the image, without `loop`. Default DEFAULT_MOUNT_OPTIONS. */
  mountOptions?: string | undefined;
}

/** True if `path` is on a btrfs filesystem. @throws errno errors (ENOENT...) from statfs. */
export async function isOnBtrfs(path: string): Promise<boolean> {
  return (await statfs(path)).type === BTRFS_MAGIC;
}

/**
 * Finds, creates or mounts the pool's filesystem. Idempotent: an image that
 * is already mounted is reused, an existing image is mounted, only a missing
 * one is created (under a temporary name and renamed when mkfs succeeded, so a
 * crash never leaves a half-formatted `pool.img`).
 * @throws HobError 'internal' if `path` does not exist or is not btrfs, or the
 *   mountpoint holds another filesystem; PoolFullError if the host has too
 *   little free space for a new image; HobError with stderr if mkfs/mount fail.
 */
export async function locatePool(opts: LocateOptions): Promise<PoolLocation> {
  if (opts.path !== undefined) {
    let onBtrfs: boolean;
    try {
      onBtrfs = await isOnBtrfs(opts.path);
    } catch (err) {
      throw new HobError('internal', `pool.path ${opts.path} is not usable: ${(err as Error).message}`, { cause: err });
    }
    if (!onBtrfs) {
      throw new HobError('internal', `pool.path ${opts.path} is not on a btrfs filesystem (hob needs btrfs for snapshots); unset pool.path to use the embedded pool`);
    }
    if (!(await stat(opts.path)).isDirectory()) throw new HobError('internal', `pool.path ${opts.path} is not a directory`);
    return { root: await realpath(opts.path), kind: 'external', created: false, mounted: false };
  }

  // 0711 as prepareDaemonDirs makes it (daemon-dirs.ts); the pool inside is 0700 (modes.ts).
  await mkdir(opts.stateDir, { recursive: true, mode: 0o711 }).catch((e) => { throw fsError('mkdir', opts.stateDir, e); });
  const stateDir = await realpath(opts.stateDir);
  const poolDir = join(stateDir, 'pool');

  if (await isOnBtrfs(stateDir)) {
    let created = false;
    const st = await stat(poolDir).catch(() => undefined);
    if (!st) {
      await run('btrfs', ['subvolume', 'create', poolDir]);
      created = true;
    } else if (!st.isDirectory()) {
      throw new HobError('internal', `${poolDir} exists and is not a directory`);
    }
    return { root: poolDir, kind: 'directory', created, mounted: false };
  }

  const imageFile = join(stateDir, 'pool.img');
  // The mountpoint, for when the pool is not mounted; the mounted root is made 0700 by Pool.open.
  await mkdir(poolDir, { recursive: true, mode: 0o700 }).catch((e) => { throw fsError('mkdir', poolDir, e); });
  const existing = await findMount(poolDir);
  if (existing) {
    if (existing.fstype !== 'btrfs') {
      throw new HobError('internal', `${poolDir} is a mountpoint of a ${existing.fstype} filesystem (${existing.source}), not the btrfs pool`);
    }
    return { root: poolDir, kind: 'loop', imageFile, created: false, mounted: false };
  }

  let created = false;
  if (!(await stat(imageFile).catch(() => undefined))) {
    await createImage(imageFile, await imageBytes(stateDir, opts.imageSize ?? 'auto'));
    created = true;
  }
  const options = ['loop', opts.mountOptions ?? DEFAULT_MOUNT_OPTIONS].filter(Boolean).join(',');
  await run('mount', ['-t', 'btrfs', '-o', options, imageFile, poolDir]);
  return { root: poolDir, kind: 'loop', imageFile, created, mounted: true };
}

async function imageBytes(stateDir: string, size: 'auto' | number): Promise<number> {
  if (size !== 'auto') return size;
  const fs = await statfs(stateDir);
  const free = fs.bavail * fs.bsize;
  const bytes = Math.floor(Math.min(free * AUTO_SHARE, AUTO_MAX) / 1024 ** 2) * 1024 ** 2;
  if (bytes < MIN_IMAGE) {
    throw new PoolFullError(`not enough free space in ${stateDir} for the storage pool: ${free} bytes free, hob needs at least ${Math.ceil(MIN_IMAGE / AUTO_SHARE)} free for an automatically sized pool (or set pool.imageSize)`);
  }
  return bytes;
}

/** Creates a sparse file of `bytes` and formats it btrfs, atomically (temp name + rename). */
async function createImage(imageFile: string, bytes: number): Promise<void> {
  const tmp = `${imageFile}.new-${randomBytes(4).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.truncate(bytes); // sparse: no blocks allocated
    } finally {
      await fh.close();
    }
    // -K: no discard pass over the (already sparse) file.
    await run('mkfs.btrfs', ['-q', '-K', '-L', 'hob-pool', tmp]);
    await rename(tmp, imageFile);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err instanceof HobError ? err : fsError('create', imageFile, err);
  }
}

export interface MountEntry {
  readonly mountpoint: string;
  readonly fstype: string;
  readonly source: string;
}

/** The topmost mount whose mountpoint is exactly `dir` (a real path), from /proc/self/mountinfo. */
export async function findMount(dir: string): Promise<MountEntry | undefined> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let found: MountEntry | undefined;
  for (const line of text.split('\n')) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superopts
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0 || f.length < dash + 3) continue;
    const mountpoint = unescapeMountinfo(f[4] ?? '');
    if (mountpoint === dir) found = { mountpoint, fstype: f[dash + 1] ?? '', source: unescapeMountinfo(f[dash + 2] ?? '') };
  }
  return found;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Unmounts the pool image mounted at `dir` (the loop device goes with it:
 * `mount -o loop` sets autoclear). No-op if nothing is mounted there.
 * @throws HobError with umount's stderr (e.g. "target is busy").
 */
export async function unmountPool(dir: string): Promise<void> {
  if (!(await findMount(dir))) return;
  await run('umount', [dir]);
}
