/**
 * File modes in the pool: everything is root's alone. The real barrier is the
 * directories: the pool root, its areas and every directory below are 0700, so
 * no other uid can reach anything (search permission is needed on every
 * ancestor). Files are 0600 on top of that, where they can be changed.
 *
 * Read-only subvolumes (images, checkpoints) cannot be chmod'ed (EROFS). Their
 * content keeps the modes it was snapshotted with, and stays unreachable behind
 * their 0700 parents. hob never flips a checkpoint writable just to chmod it:
 * that opens a window in which the checkpoint could change, for no gain over
 * the closed parents.
 *
 * Pool content is only ever written by hob as root (guests write inside their
 * disk images), so a symlink here is not expected; it is skipped anyway, never
 * followed (chmod follows symlinks).
 */
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError } from './errors.js';

/** Mode of every directory in the pool, its root included. */
export const POOL_DIR_MODE = 0o700;
/** Mode of every file in a writable subvolume. */
export const POOL_FILE_MODE = 0o600;
/**
 * How deep `restrictTree` descends: a sandbox subvolume holds files and one
 * `memory/` directory of files, so 2 covers hob's layout with a margin, and a
 * stray deep tree cannot make start-up walk for long.
 */
const MAX_DEPTH = 4;

/**
 * chmod, unless `p` has the mode already (so that a pool made by this hob costs
 * no writes); reports whether the filesystem was read-only (EROFS) instead of
 * throwing.
 */
async function chmodUnlessReadOnly(p: string, mode: number, current?: number): Promise<boolean> {
  try {
    if (((current ?? (await lstat(p)).mode) & 0o7777) !== mode) await chmod(p, mode);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EROFS') return false;
    throw fsError('chmod', p, err);
  }
}

/**
 * Makes directory `dir` 0700 and, if it is writable, everything below it:
 * directories 0700, files 0600, down to MAX_DEPTH. A read-only directory (the
 * root of a read-only subvolume) is left as it is, with its content. Symlinks
 * and special files are skipped. A missing `dir` is fine.
 * @throws HobError (internal) if a chmod fails for another reason than EROFS.
 */
export async function restrictTree(dir: string, depth = MAX_DEPTH): Promise<void> {
  const st = await lstat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw fsError('stat', dir, e);
  });
  if (!st?.isDirectory()) return;
  if (!(await chmodUnlessReadOnly(dir, POOL_DIR_MODE, st.mode)) || depth === 0) return;
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: unknown) => {
    throw fsError('readdir', dir, e);
  });
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await restrictTree(p, depth - 1);
    else if (e.isFile()) await chmodUnlessReadOnly(p, POOL_FILE_MODE);
  }
}

/**
 * Makes the root directory of a new writable subvolume 0700 (when it is not
 * yet): enough to close everything in it. Its files keep the modes of the
 * snapshot's source; sources made by this hob have 0600 files already (see
 * Pool.setReadOnly), and an older pool's are fixed at start-up.
 */
export async function restrictRoot(dir: string): Promise<void> {
  await chmodUnlessReadOnly(dir, POOL_DIR_MODE);
}

/**
 * Start-up fix of a pool made by an older hob (0711 directories, 0755
 * subvolumes, 0644 files): the root and the areas 0700, then every writable
 * subvolume and plain directory below them (see restrictTree). Read-only
 * subvolumes are skipped. Cheap: a handful of entries per sandbox.
 */
export async function restrictPool(root: string, areas: readonly string[]): Promise<void> {
  await chmodUnlessReadOnly(root, POOL_DIR_MODE);
  for (const area of areas) await restrictTree(join(root, area));
}
