/**
 * Makes one directory tree of the pool a copy of another in place, sharing extents
 * (docs/architecture.md §30): a large file both have is changed only in the ranges where the
 * two differ (extent-map.ts; not at all when they share every extent), a small one is
 * compared byte for byte, any other file is a reflink copy. Restore uses it instead of
 * swapping the volume, so that the host's page cache of the sandbox's disk, kernel and
 * initramfs survives what the restore did not change.
 *
 * Not atomic: a crash leaves `dest` part old, part new. Running it again with the same
 * `source` finishes the work (every step is idempotent), which is how its caller recovers.
 */
import { randomBytes } from 'node:crypto';
import { lstat, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HobError } from '../errors.js';
import { planResync, readExtentMaps, type RangeAction } from './extent-map.js';
import { fsError, run } from './errors.js';
import { POOL_FILE_MODE } from './modes.js';
import { xfsIo } from './xfs-io.js';

/** What a sync did. */
export interface TreeSyncStats {
  /** Files both sides had, compared (and changed where they differed). */
  compared: number;
  /** Files copied whole (new, or replacing something else), and entries removed. */
  copied: number;
  removed: number;
  /** Bytes cloned or written from the source, and bytes made holes. */
  clonedBytes: number;
  punchedBytes: number;
}

export interface TreeSyncOptions {
  /** Bytes of extent maps read at most (default MAX_FIEMAP_OUTPUT); past it: ExtentMapTooLargeError. */
  readonly maxMapBytes?: number | undefined;
}

/** Files up to this size are compared and rewritten whole: cheaper than a map, exact for inline extents. */
const SMALL_FILE_BYTES = 64 * 1024;
/** xfs_io commands per run (each its own argument; a disk changed all over gives thousands). */
const ACTIONS_PER_RUN = 512;

interface FilePair {
  readonly source: string;
  readonly dest: string;
  readonly size: number;
}

/**
 * Makes `dest` (a directory) hold what `source` holds: regular files and directories only.
 * @throws ExtentMapTooLargeError (files of more extents than a map is read for); HobError
 *   'internal' for anything else in `source` (a symlink, a device) or a failed step;
 *   PoolFullError when the filesystem is out of (metadata) space. `dest` may then be partly
 *   synced: run again or replace it.
 */
export async function syncTree(source: string, dest: string, options: TreeSyncOptions = {}): Promise<TreeSyncStats> {
  const stats: TreeSyncStats = { compared: 0, copied: 0, removed: 0, clonedBytes: 0, punchedBytes: 0 };
  const pairs: FilePair[] = [];
  await walk(source, dest, stats, pairs);
  stats.compared = pairs.length;
  const large: FilePair[] = [];
  for (const pair of pairs) {
    if (pair.size > SMALL_FILE_BYTES) large.push(pair);
    else if (await syncSmallFile(pair)) stats.clonedBytes += pair.size;
  }
  if (large.length === 0) return stats;
  // Written back first: dirty pages map as delayed allocations, which never count as shared.
  for (const pair of large) await truncateAndSync(pair.dest, pair.size);
  const maps = await readExtentMaps([...large.map((p) => p.source), ...large.map((p) => p.dest)], options.maxMapBytes);
  for (const [i, pair] of large.entries()) {
    const actions = planResync(maps[i]!, maps[large.length + i]!, pair.size);
    for (let a = 0; a < actions.length; a += ACTIONS_PER_RUN) {
      await runActions(pair, actions.slice(a, a + ACTIONS_PER_RUN), a + ACTIONS_PER_RUN >= actions.length);
    }
    for (const action of actions) {
      if (action.kind === 'clone') stats.clonedBytes += action.length;
      else stats.punchedBytes += action.length;
    }
  }
  return stats;
}

/** Removes what `dest` has and `source` does not, copies what only `source` has, and lists the files both have. */
async function walk(source: string, dest: string, stats: TreeSyncStats, pairs: FilePair[]): Promise<void> {
  const wanted = new Set(await readdir(source).catch((e) => { throw fsError('readdir', source, e); }));
  for (const name of await readdir(dest).catch((e) => { throw fsError('readdir', dest, e); })) {
    if (wanted.has(name)) continue;
    await remove(join(dest, name));
    stats.removed++;
  }
  for (const name of [...wanted].sort()) {
    const from = join(source, name);
    const to = join(dest, name);
    const s = await lstat(from).catch((e) => { throw fsError('lstat', from, e); });
    const d = await lstat(to).catch(() => undefined);
    if (!s.isDirectory() && !s.isFile()) throw new HobError('internal', `${from} is neither a file nor a directory`);
    if (d && d.isDirectory() !== s.isDirectory()) await remove(to);
    if (s.isDirectory() && d?.isDirectory()) {
      await walk(from, to, stats, pairs);
    } else if (s.isFile() && d?.isFile()) {
      pairs.push({ source: from, dest: to, size: s.size });
    } else {
      await copyWhole(from, to);
      stats.copied++;
    }
  }
}

/** A hidden name next to `path` for a copy renamed over it; a crash's leftover is not in the source, so the next sync removes it. */
function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}`);
}

async function remove(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true }).catch((e) => { throw fsError('rm', path, e); });
}

/** A reflink copy of a file or directory, renamed into place so that a crash leaves no half copy at `to`. */
async function copyWhole(from: string, to: string): Promise<void> {
  const temp = tempBeside(to);
  try {
    await run('cp', ['-a', '--reflink=always', '--no-target-directory', '--', from, temp]);
    await rename(temp, to).catch((e) => { throw fsError('rename', to, e); });
  } finally {
    await rm(temp, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Rewrites a small file whole when its bytes differ. Returns true if it did. */
async function syncSmallFile(pair: FilePair): Promise<boolean> {
  const [want, have] = await Promise.all([readFile(pair.source), readFile(pair.dest)]).catch((e) => { throw fsError('read', pair.dest, e); });
  if (want.equals(have)) return false;
  const temp = tempBeside(pair.dest);
  try {
    await writeFile(temp, want, { mode: POOL_FILE_MODE, flush: true });
    await rename(temp, pair.dest);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw fsError('write', pair.dest, err);
  }
  return true;
}

async function truncateAndSync(file: string, size: number): Promise<void> {
  const handle = await open(file, 'r+').catch((e) => { throw fsError('open', file, e); });
  try {
    await handle.truncate(size);
    await handle.sync();
  } catch (err) {
    throw fsError('truncate', file, err);
  } finally {
    await handle.close();
  }
}

/** One xfs_io run over `pair.dest`; the source is named relative to its directory, the run's working directory. */
async function runActions(pair: FilePair, actions: readonly RangeAction[], last: boolean): Promise<void> {
  const name = basename(pair.source);
  if (/\s/.test(name)) throw new HobError('internal', `${pair.source}: a file name with blanks cannot be cloned from`);
  const commands = actions.map((a) => (a.kind === 'clone' ? `reflink -q ${name} ${a.offset} ${a.offset} ${a.length}` : `fpunch ${a.offset} ${a.length}`));
  if (last) commands.push('fsync');
  await xfsIo([...commands.flatMap((c) => ['-c', c]), pair.dest], { cwd: dirname(pair.source) });
}
