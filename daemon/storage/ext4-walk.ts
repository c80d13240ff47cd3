/**
 * The comparison of two mounted directory trees behind `diffExt4Images`.
 *
 * Both trees are walked together, depth first: the sorted listings of a
 * directory present on both sides are merged like sorted files, so memory
 * holds one listing per directory level (plus the result), never a whole
 * tree. Entries are lstat'ed (bigint, for ns times) synchronously, in
 * time slices that yield to the event loop (see `pace`). Symlinks are never
 * followed; entries on another device are ignored (the image has no other
 * mounts; this only guards against one).
 *
 * When a path is unchanged, modified, added or deleted: see `nodeChanged`
 * and the header of ext4-diff.ts.
 */
import type { BigIntStats } from 'node:fs';
import { constants, lstatSync, readdirSync } from 'node:fs';
import { open, readlink } from 'node:fs/promises';
import { setImmediate } from 'node:timers/promises';
import type { DiffEntry } from '../core/types.js';
import { childRaw, hostPath, ioError, type TreeRoot } from './ext4-guest-path.js';

/** A DiffEntry whose path is still raw (latin1 bytes). */
export interface RawDiffEntry extends Omit<DiffEntry, 'path'> {
  readonly raw: string;
}

/** Longest stretch of synchronous walking between two turns of the event loop (see `pace`). */
const SLICE_MS = 4;
/** Read size of the content comparison. */
const CHUNK = 256 * 1024;
const S_IFMT = BigInt(constants.S_IFMT);

export function entryType(st: BigIntStats): DiffEntry['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

export class TreeDiff {
  readonly entries: RawDiffEntry[] = [];
  private sliceStart = performance.now();

  constructor(
    private readonly older: TreeRoot,
    private readonly newer: TreeRoot,
    /** Raw paths skipped with everything under them (`/lost+found`). */
    private readonly skip: ReadonlySet<string>,
  ) {}

  /** Compares `raw` (stats from both sides, undefined = absent) and everything under it. */
  async compare(raw: string, a: BigIntStats | undefined, b: BigIntStats | undefined): Promise<void> {
    if (this.skipped(raw)) return;
    if (a && b) {
      if (await this.nodeChanged(raw, a, b)) this.emit(raw, 'modified', b, a, b);
      const aDir = a.isDirectory();
      const bDir = b.isDirectory();
      if (aDir && bDir) await this.compareDirs(raw);
      else {
        // A type change from or to a directory: its content went or came with it.
        if (aDir) await this.emitChildren(this.older, raw, 'deleted');
        if (bDir) await this.emitChildren(this.newer, raw, 'added');
      }
    } else if (a) {
      this.emit(raw, 'deleted', a, a, undefined);
      if (a.isDirectory()) await this.emitChildren(this.older, raw, 'deleted');
    } else if (b) {
      this.emit(raw, 'added', b, undefined, b);
      if (b.isDirectory()) await this.emitChildren(this.newer, raw, 'added');
    }
  }

  private skipped(raw: string): boolean {
    for (const s of this.skip) if (raw === s || raw.startsWith(`${s}/`)) return true;
    return false;
  }

  /**
   * True if a path present on both sides changed. Fast path: type, size,
   * mode, uid, gid, mtime, ctime, inode and rdev all equal = unchanged (a
   * snapshot keeps inode numbers, and any write or chmod moves ctime).
   * Otherwise, by type (a type change is always a change):
   * - directory: only its own mode/uid/gid count (not its entries, mtime);
   * - symlink: its target or uid/gid;
   * - regular file: size, mode, uid, gid or mtime differ (so a `touch` is a
   *   change), else (only ctime/inode moved: a hard link, an xattr, a
   *   rewrite with the same bytes and mtime) the content is compared;
   * - other (device, fifo, socket): mode, uid, gid, mtime or rdev.
   */
  private async nodeChanged(raw: string, a: BigIntStats, b: BigIntStats): Promise<boolean> {
    if (a.mode === b.mode && a.size === b.size && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs
      && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.rdev === b.rdev) return false;
    const t = entryType(a);
    if ((a.mode & S_IFMT) !== (b.mode & S_IFMT)) return true;
    if (a.uid !== b.uid || a.gid !== b.gid) return true;
    switch (t) {
      case 'directory': return a.mode !== b.mode;
      case 'symlink': return !(await this.readlinkRaw(this.older, raw)).equals(await this.readlinkRaw(this.newer, raw));
      case 'other': return a.mode !== b.mode || a.mtimeNs !== b.mtimeNs || a.rdev !== b.rdev;
      case 'file':
        if (a.mode !== b.mode || a.mtimeNs !== b.mtimeNs || a.size !== b.size) return true;
        return !(await this.sameContent(raw));
    }
  }

  private async readlinkRaw(root: TreeRoot, raw: string): Promise<Buffer> {
    try {
      return await readlink(hostPath(root, raw), { encoding: 'buffer' });
    } catch (err) {
      throw ioError(root, raw, 'readlink', err);
    }
  }

  /** Byte comparison of the file on both sides (same size, checked by the caller). */
  private async sameContent(raw: string): Promise<boolean> {
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW;
    const fa = await open(hostPath(this.older, raw), flags).catch((e: unknown) => { throw ioError(this.older, raw, 'open', e); });
    try {
      const fb = await open(hostPath(this.newer, raw), flags).catch((e: unknown) => { throw ioError(this.newer, raw, 'open', e); });
      try {
        const ba = Buffer.allocUnsafe(CHUNK);
        const bb = Buffer.allocUnsafe(CHUNK);
        for (;;) {
          const [ra, rb] = await settleAll([readFull(fa, ba), readFull(fb, bb)]).catch((e: unknown) => { throw ioError(this.newer, raw, 'read', e); });
          if (ra !== rb || !ba.subarray(0, ra).equals(bb.subarray(0, rb))) return false;
          if (ra < CHUNK) return true;
        }
      } finally {
        await fb.close();
      }
    } finally {
      await fa.close();
    }
  }

  /** Merges the sorted listings of a directory present on both sides. */
  private async compareDirs(dirRaw: string): Promise<void> {
    const na = await this.list(this.older, dirRaw);
    const nb = await this.list(this.newer, dirRaw);
    let i = 0;
    let j = 0;
    while (i < na.length || j < nb.length) {
      const x = na[i];
      const y = nb[j];
      let name: string;
      let inA = false;
      let inB = false;
      if (y === undefined || (x !== undefined && x < y)) { name = x as string; inA = true; i++; }
      else if (x === undefined || y < x) { name = y; inB = true; j++; }
      else { name = x; inA = true; inB = true; i++; j++; }
      const r = childRaw(dirRaw, name);
      await this.pace();
      await this.compare(r, inA ? this.stat(this.older, r) : undefined, inB ? this.stat(this.newer, r) : undefined);
    }
  }

  /** Emits every path under the directory `dirRaw` of one side as `change`. */
  private async emitChildren(root: TreeRoot, dirRaw: string, change: 'added' | 'deleted'): Promise<void> {
    for (const name of await this.list(root, dirRaw)) {
      const r = childRaw(dirRaw, name);
      await this.pace();
      const st = this.stat(root, r);
      if (!st) continue;
      this.emit(r, change, st, change === 'deleted' ? st : undefined, change === 'added' ? st : undefined);
      if (st.isDirectory()) await this.emitChildren(root, r, change);
    }
  }

  /** Sorted raw names of a directory (byte order: latin1 strings compare like bytes). */
  private async list(root: TreeRoot, dirRaw: string): Promise<string[]> {
    await this.pace();
    try {
      return readdirSync(hostPath(root, dirRaw), { encoding: 'latin1' }).sort();
    } catch (err) {
      throw ioError(root, dirRaw, 'readdir', err);
    }
  }

  /** lstat (synchronous, see `pace`); undefined if absent or on another device. */
  private stat(root: TreeRoot, raw: string): BigIntStats | undefined {
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(hostPath(root, raw), { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      throw ioError(root, raw, 'lstat', err);
    }
    return st && st.dev === root.dev ? st : undefined;
  }

  /**
   * The walk's metadata calls are synchronous: lstat through the thread pool
   * (fs/promises) cost 2-4 times as much per entry here, and a diff makes two
   * per path. A large directory is still listed in one call. To keep
   * the daemon's event loop responsive, this yields to it (setImmediate)
   * whenever the walk has run for SLICE_MS since the last yield, so one turn
   * blocks for about that long plus one syscall.
   */
  private async pace(): Promise<void> {
    if (performance.now() - this.sliceStart < SLICE_MS) return;
    await setImmediate();
    this.sliceStart = performance.now();
  }

  private emit(raw: string, change: DiffEntry['change'], typeOf: BigIntStats, before: BigIntStats | undefined, after: BigIntStats | undefined): void {
    this.entries.push({
      raw,
      change,
      type: entryType(typeOf),
      sizeBefore: before ? Number(before.size) : null,
      sizeAfter: after ? Number(after.size) : null,
    });
  }
}

/** Reads until `buf` is full or EOF; returns the bytes read. */
async function readFull(fh: Awaited<ReturnType<typeof open>>, buf: Buffer): Promise<number> {
  let n = 0;
  while (n < buf.length) {
    const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

/**
 * Like Promise.all, but waits for every promise to settle before rejecting,
 * so no lstat is still running on a mount when the caller unmounts it.
 */
export async function settleAll<T extends readonly unknown[]>(ps: readonly [...{ [K in keyof T]: Promise<T[K]> }]): Promise<T> {
  const rs = await Promise.allSettled(ps);
  const bad = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) throw bad.reason;
  return rs.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
