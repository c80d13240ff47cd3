/**
 * btrfs subvolume primitives on absolute paths that the caller (Pool) has
 * already checked. All through `btrfs` with argument arrays.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError, run } from './errors.js';

/** Inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_ROOT_INO = 256;

/** True if `p` is the root directory of a subvolume. False if it is missing or anything else. */
export async function isSubvolume(p: string): Promise<boolean> {
  try {
    const st = await lstat(p, { bigint: true });
    return st.isDirectory() && st.ino === BigInt(SUBVOLUME_ROOT_INO);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fsError('stat', p, err);
  }
}

export async function createSubvolume(p: string): Promise<void> {
  await run('btrfs', ['subvolume', 'create', p]);
}

/** Snapshot of subvolume `src` at `dst` (which must not exist). Atomic: on failure nothing is left at `dst`. */
export async function snapshotSubvolume(src: string, dst: string, readOnly: boolean): Promise<void> {
  await run('btrfs', ['subvolume', 'snapshot', ...(readOnly ? ['-r'] : []), src, dst]);
}

export async function isReadOnly(p: string): Promise<boolean> {
  const out = await run('btrfs', ['property', 'get', '-ts', p, 'ro']);
  return /ro=true/.test(out);
}

export async function setReadOnly(p: string, readOnly: boolean): Promise<void> {
  await run('btrfs', ['property', 'set', '-ts', p, 'ro', readOnly ? 'true' : 'false']);
}

/**
 * Subvolumes nested anywhere below directory `dir` (not `dir` itself), without
 * descending into them. Pool subvolumes hold a handful of files (disk images),
 * so walking the directories is cheap.
 */
async function nestedSubvolumes(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw fsError('readdir', dir, err);
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const child = join(dir, e.name);
    if (await isSubvolume(child)) out.push(child);
    else out.push(...(await nestedSubvolumes(child)));
  }
  return out;
}

/**
 * Deletes `p` whatever it is: a subvolume (read-only or not, with nested
 * subvolumes at any depth), a plain directory holding subvolumes, or a file.
 * Nested subvolumes go first, deepest first; a read-only subvolume that
 * contains some is made writable first, since removing their entries writes
 * to it. Returns false if `p` did not exist.
 * @throws HobError with btrfs's stderr; the tree may then be partly deleted
 *   (what is left can be deleted again).
 */
export async function deleteTree(p: string): Promise<boolean> {
  let st;
  try {
    st = await lstat(p, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fsError('stat', p, err);
  }
  if (!st.isDirectory()) {
    await rm(p, { force: true }).catch((e) => { throw fsError('unlink', p, e); });
    return true;
  }
  const isSub = st.ino === BigInt(SUBVOLUME_ROOT_INO);
  const nested = await nestedSubvolumes(p);
  if (nested.length > 0 && isSub && (await isReadOnly(p))) await setReadOnly(p, false);
  for (const n of nested) await deleteTree(n);
  if (isSub) {
    // Deletes the whole tree at once (the cleaner frees the extents later); works on read-only ones.
    await run('btrfs', ['subvolume', 'delete', p]);
  } else {
    await rm(p, { recursive: true, force: true }).catch((e) => { throw fsError('rm', p, e); });
  }
  return true;
}
