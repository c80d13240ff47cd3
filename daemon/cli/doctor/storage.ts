/**
 * Checks of the storage side: btrfs-progs, xfsprogs (in-place restores), loop devices (for the embedded
 * pool) and the pool itself: where it is, whether it is mounted read-write,
 * btrfs's error counters and the free space. Read-only: nothing is created,
 * mounted or repaired here (hobd makes the pool at its first start).
 */
import { constants } from 'node:fs';
import { access, readFile, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MIN_POOL_IMAGE_BYTES } from '../../config.js';
import { isOnBtrfs } from '../../storage/mount.js';
import { parseFilesystemUsage } from '../../storage/usage.js';
import { formatBytes } from '../output.js';
import { isReadOnly, mountOf, readMounts, type MountEntry } from './mounts.js';
import { findProgram, probe, programVersion } from './programs.js';
import { check, type Check, type DoctorContext } from './types.js';

/** Below this much free space in the pool, sandboxes and images cannot be created: a failure. */
export const POOL_FREE_FAIL_BYTES = 512 * 1024 ** 2;
/** Below this much free space (or 10 % of the pool), a warning. */
export const POOL_FREE_WARN_BYTES = 5 * 1024 ** 3;

/** `btrfs-progs`: the tools and the kernel's btrfs. */
export async function checkBtrfsProgs(ctx: DoctorContext): Promise<Check> {
  const btrfs = await findProgram('btrfs', ctx.env);
  const mkfs = await findProgram('mkfs.btrfs', ctx.env);
  if (!btrfs || !mkfs) {
    return check('btrfs-progs', 'fail', `${!btrfs ? 'btrfs' : 'mkfs.btrfs'} not found: hob keeps every disk on a btrfs pool`, 'apt-get install btrfs-progs');
  }
  const version = (await programVersion(btrfs)) ?? 'version unknown';
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  if (!/\sbtrfs$/m.test(filesystems)) {
    return check('btrfs-progs', 'warn', `${version}; the kernel has not loaded btrfs yet (not in /proc/filesystems)`, 'modprobe btrfs (mount loads it on demand where the module exists)');
  }
  return check('btrfs-progs', 'ok', version);
}

/**
 * `xfsprogs`: restore changes a sandbox's disk in place with xfs_io (docs/architecture.md §30);
 * without it a restore swaps the whole volume in, and the restored sandbox boots from files the
 * host's page cache has never seen.
 */
export async function checkXfsProgs(ctx: DoctorContext): Promise<Check> {
  const xfsIo = await findProgram('xfs_io', ctx.env);
  if (!xfsIo) return check('xfsprogs', 'warn', 'xfs_io not found: a restore swaps the whole volume, and its first boot reads every file from disk again', 'apt-get install xfsprogs');
  return check('xfsprogs', 'ok', `${(await programVersion(xfsIo, ['-V'])) ?? 'xfs_io'}: restores change disks in place`);
}

/** Where the pool is or will be, as hobd's storage/mount.ts decides it. */
type PoolPlace =
  | { readonly kind: 'external' | 'directory' | 'loop'; readonly root: string; readonly mount: MountEntry | undefined }
  | { readonly kind: 'none'; readonly stateDir: string; readonly imageFile: string; readonly imageExists: boolean }
  | { readonly kind: 'unreadable'; readonly path: string; readonly error: string };

/** True if `path` exists; false for ENOENT; throws other errors (EACCES: the caller cannot tell). */
async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function locate(ctx: DoctorContext): Promise<PoolPlace | Check> {
  const config = ctx.config;
  if (!config) return check('pool', 'fail', 'cannot tell where the pool is: the configuration does not load (see the config check)');
  const mounts = await readMounts();
  if (config.pool.path !== undefined) {
    const p = config.pool.path;
    try {
      if (!(await isOnBtrfs(p))) {
        return check('pool', 'fail', `pool.path ${p} is not on a btrfs filesystem`, 'point pool.path at a directory on btrfs, or remove it to use the embedded pool');
      }
    } catch (err) {
      return check('pool', 'fail', `pool.path ${p} is not usable: ${(err as Error).message}`, 'create the directory on a btrfs filesystem, or remove pool.path to use the embedded pool');
    }
    return { kind: 'external', root: p, mount: mountOf(mounts, p) };
  }
  const stateDir = config.stateDir;
  const poolDir = join(stateDir, 'pool');
  const imageFile = join(stateDir, 'pool.img');
  try {
    if (await exists(poolDir)) {
      if (await isOnBtrfs(poolDir)) {
        const mount = mountOf(mounts, poolDir);
        return { kind: mount?.mountPoint === poolDir ? 'loop' : 'directory', root: poolDir, mount };
      }
    }
    return { kind: 'none', stateDir, imageFile, imageExists: await exists(imageFile) };
  } catch (err) {
    return { kind: 'unreadable', path: poolDir, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/** Free bytes of the filesystem holding `path` (or its nearest existing parent). */
async function freeBytesAt(path: string): Promise<{ at: string; free: number }> {
  let p = path;
  for (;;) {
    try {
      const fs = await statfs(p);
      return { at: p, free: fs.bavail * fs.bsize };
    } catch (err) {
      const up = dirname(p);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || up === p) throw err;
      p = up;
    }
  }
}

/** `pool`: where the pool is, mounted read-write, error counters, free space. */
export async function checkPool(ctx: DoctorContext): Promise<Check> {
  const place = await locate(ctx);
  if ('status' in place) return place;
  if (place.kind === 'unreadable') {
    return check('pool', 'warn', `cannot look at ${place.path} as this user (${place.error})`, 'run `sudo hob doctor` to inspect the pool');
  }
  if (place.kind === 'none') {
    if (place.imageExists) {
      return check('pool', 'warn', `the embedded pool ${place.imageFile} exists but is not mounted; hobd mounts it when it starts`, 'start hobd (systemctl start hobd, or hob daemon)');
    }
    const { at, free } = await freeBytesAt(place.stateDir);
    const detail = `no pool yet: hobd creates ${place.imageFile} (sparse, btrfs) at its first start; ${formatBytes(free)} free on ${at}`;
    if (free < MIN_POOL_IMAGE_BYTES / 0.8) {
      return check('pool', 'fail', detail, `free space on ${at}, set pool.imageSize, or point pool.path at a btrfs directory elsewhere`);
    }
    return check('pool', 'ok', detail);
  }

  const where = `${place.root} (${place.kind === 'loop' ? `embedded, ${place.mount?.source ?? 'loop'}` : place.kind === 'directory' ? 'subvolume on the state dir’s btrfs' : 'pool.path'})`;
  if (place.mount && isReadOnly(place.mount)) {
    return check('pool', 'fail', `${where} is mounted read-only (btrfs turns read-only after an I/O or metadata error)`, 'look at `dmesg | grep -i btrfs`, fix the cause, then restart hobd; `btrfs check` (unmounted) or `btrfs scrub start` find damage');
  }
  if (!(await access(place.root, constants.R_OK | constants.X_OK).then(() => true, () => false))) {
    return check('pool', 'warn', `${where}: not readable as this user`, 'run `sudo hob doctor` to inspect the pool');
  }
  const btrfs = await findProgram('btrfs', ctx.env);
  if (!btrfs) return check('pool', 'fail', `${where}: btrfs-progs missing, hob cannot manage the pool`, 'apt-get install btrfs-progs');

  const usageRun = await probe(btrfs, ['filesystem', 'usage', '-b', place.root]);
  let usageText: string;
  let low: 'fail' | 'warn' | undefined;
  try {
    if (!usageRun.ok) throw new Error(usageRun.output.split('\n')[0] ?? 'failed');
    const u = parseFilesystemUsage(usageRun.output);
    usageText = `${formatBytes(u.freeBytes)} free of ${formatBytes(u.sizeBytes)}`;
    if (u.freeBytes < POOL_FREE_FAIL_BYTES) low = 'fail';
    else if (u.freeBytes < POOL_FREE_WARN_BYTES || u.freeBytes < u.sizeBytes * 0.1) low = 'warn';
  } catch (err) {
    if (!ctx.isRoot) return check('pool', 'warn', `${where}: space unknown (btrfs filesystem usage needs root)`, 'run `sudo hob doctor` to inspect the pool');
    return check('pool', 'warn', `${where}: cannot read its space usage: ${(err as Error).message}`);
  }

  const stats = await probe(btrfs, ['device', 'stats', '--check', place.root]);
  if (!stats.ok && ctx.isRoot) {
    const errors = stats.output.split('\n').filter((l) => /\s[1-9]\d*$/.test(l)).join('; ');
    return check('pool', 'warn', `${where}, ${usageText}; btrfs recorded device errors: ${errors || stats.output}`, '`btrfs scrub start` the pool and check the disk under it (smartctl); `btrfs device stats -z` resets the counters');
  }
  if (low === 'fail') {
    return check('pool', 'fail', `${where}: only ${usageText}: new sandboxes, images and checkpoints will fail`, 'delete sandboxes or checkpoints you no longer need (hob rm), or grow the pool');
  }
  if (low === 'warn') return check('pool', 'warn', `${where}: ${usageText}: getting full`, 'delete sandboxes or checkpoints you no longer need (hob rm), or grow the pool');
  return check('pool', 'ok', `${where}: ${usageText}`);
}

/** `loop`: loop devices, needed for the embedded pool (a loop-mounted image). */
export async function checkLoop(ctx: DoctorContext): Promise<Check> {
  const config = ctx.config;
  if (config?.pool.path !== undefined) return check('loop', 'ok', 'not needed: the pool is pool.path on an existing btrfs');
  if (config && (await isOnBtrfs(config.stateDir).catch(() => false))) {
    return check('loop', 'ok', `not needed: ${config.stateDir} is on btrfs, the pool is a subvolume there`);
  }
  if (config) {
    const poolDir = join(config.stateDir, 'pool');
    const mount = mountOf(await readMounts(), poolDir);
    if (mount?.mountPoint === poolDir && mount.source.startsWith('/dev/loop')) return check('loop', 'ok', `the pool is mounted from ${mount.source}`);
  }
  if (!(await exists('/dev/loop-control').catch(() => false))) {
    return check('loop', 'fail', '/dev/loop-control does not exist: the embedded pool (a loop-mounted image) cannot be mounted', 'modprobe loop (and add "loop" to /etc/modules); in a container, give it loop devices, or set pool.path to a btrfs directory');
  }
  if (!ctx.isRoot) return check('loop', 'ok', '/dev/loop-control exists (run as root to find a free device)');
  const losetup = await findProgram('losetup', ctx.env);
  if (!losetup) return check('loop', 'fail', 'losetup not found', 'apt-get install mount');
  const free = await probe(losetup, ['--find']);
  if (!free.ok) return check('loop', 'fail', `no free loop device: ${free.output}`, 'modprobe loop max_loop=64, or detach unused ones (losetup -D)');
  return check('loop', 'ok', `loop devices work (next free: ${free.output})`);
}

/** Every storage check, in order. */
export async function storageChecks(ctx: DoctorContext): Promise<Check[]> {
  return [await checkBtrfsProgs(ctx), await checkXfsProgs(ctx), await checkLoop(ctx), await checkPool(ctx)];
}
