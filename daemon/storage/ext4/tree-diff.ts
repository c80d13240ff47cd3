/**
 * The comparison of two ext4 images behind `hob diff`, run in the reader
 * process. Both trees are walked together and every change is handed to
 * `emit` in final order (byte order of the full path), so the caller can
 * stream the entries and stop at a cap without sorting or holding them.
 *
 * Order: the children of a directory `d` come right after every sibling
 * whose name sorts before `d/` (e.g. `d-x` and `d.txt` come before `d/a`):
 * each directory level sorts its names together with one `name/` item per
 * subdirectory, which stands for that subdirectory's content.
 *
 * When a path is unchanged, modified, added or deleted: see `nodeChanged`
 * and the header of ext4-diff.ts.
 */
import type { DiffEntry } from './types.js';
import { CorruptImageError } from './errors.js';
import type { Ext4Image } from './image.js';
import { isDir, listDir, lookup, readLink, sameContent } from './files.js';
import { nodeType, sameFormat, type Inode } from './inode.js';
import { MAX_PATH_BYTES } from './types.js';

/** Deepest directory nesting walked: a path of PATH_MAX bytes has at most this many components. */
const MAX_DEPTH = 2048;

/** Called for each change in order; returns false to stop the walk (the cap was reached). */
export type Emit = (entry: DiffEntry) => boolean;

class Stop extends Error {}

export class TreeDiff {
  /** Directory inodes entered, per side: a directory reached twice (a crafted hard link or loop) is corrupt. */
  private readonly seenA = new Set<number>();
  private readonly seenB = new Set<number>();

  constructor(private readonly a: Ext4Image, private readonly b: Ext4Image, private readonly emitFn: Emit) {}

  /** Walks `raw` (a raw guest path) and everything under it. Returns false if `emit` stopped it. */
  run(raw: string): boolean {
    const na = lookup(this.a, raw);
    const nb = lookup(this.b, raw);
    try {
      if (skipped(raw)) return true;
      this.node(raw, na, nb);
      this.children(raw, isDir(na) ? na : undefined, isDir(nb) ? nb : undefined, 0);
      return true;
    } catch (err) {
      if (err instanceof Stop) return false;
      throw err;
    }
  }

  /** The entry of `raw` itself (not its children). */
  private node(raw: string, na: Inode | undefined, nb: Inode | undefined): void {
    if (na && nb) {
      if (this.nodeChanged(na, nb)) this.emit(raw, 'modified', nb, na, nb);
    } else if (na) this.emit(raw, 'deleted', na, na, undefined);
    else if (nb) this.emit(raw, 'added', nb, undefined, nb);
  }

  /**
   * Everything under the directory `raw`; `da`/`db` are its inodes on the
   * sides where it is a directory (a side where it is absent or not a
   * directory contributes nothing, so its content is all added or deleted).
   */
  private children(raw: string, da: Inode | undefined, db: Inode | undefined, depth: number): void {
    if (!da && !db) return;
    if (depth > MAX_DEPTH || raw.length > MAX_PATH_BYTES) throw new CorruptImageError(`a path longer than ${MAX_PATH_BYTES} bytes or deeper than ${MAX_DEPTH} levels: ${Buffer.from(raw.slice(0, 200), 'latin1').toString('utf8')}...`);
    if (da) this.enter(this.seenA, da, this.a, raw);
    if (db) this.enter(this.seenB, db, this.b, raw);
    const names = new Map<string, [number | undefined, number | undefined]>();
    for (const e of da ? listDir(this.a, da) : []) names.set(e.name, [e.ino, undefined]);
    for (const e of db ? listDir(this.b, db) : []) names.set(e.name, [names.get(e.name)?.[0], e.ino]);
    type Item = { key: string; name: string; a: Inode | undefined; b: Inode | undefined; sub: boolean };
    const items: Item[] = [];
    for (const [name, [ia, ib]] of names) {
      const path = childRaw(raw, name);
      if (skipped(path)) continue;
      const a = ia === undefined ? undefined : this.a.inode(ia);
      const b = ib === undefined ? undefined : this.b.inode(ib);
      items.push({ key: name, name, a, b, sub: false });
      if (isDir(a) || isDir(b)) items.push({ key: `${name}/`, name, a, b, sub: true });
    }
    names.clear();
    items.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    for (const it of items) {
      const path = childRaw(raw, it.name);
      if (it.sub) this.children(path, isDir(it.a) ? it.a : undefined, isDir(it.b) ? it.b : undefined, depth + 1);
      else this.node(path, it.a, it.b);
    }
  }

  private enter(seen: Set<number>, dir: Inode, img: Ext4Image, raw: string): void {
    if (seen.has(dir.ino)) throw new CorruptImageError(`the ${img.label} image is corrupt: directory inode ${dir.ino} is reached twice (at ${Buffer.from(raw, 'latin1').toString('utf8')})`);
    seen.add(dir.ino);
  }

  /**
   * True if a path present on both sides changed. Fast path: type, size,
   * mode, uid, gid, mtime, ctime, inode number and device all equal =
   * unchanged (a snapshot keeps inode numbers; any write or chmod moves
   * ctime). Otherwise, by type (a type change is always a change):
   * - directory: only its own mode/uid/gid count (not its entries or mtime);
   * - symlink: its target or uid/gid;
   * - regular file: size, mode, uid, gid or mtime differ (a `touch` is a
   *   change), else (only ctime/inode moved) the content is compared, mapped
   *   blocks only;
   * - other (device, fifo, socket): mode, uid, gid, mtime or device number.
   */
  private nodeChanged(a: Inode, b: Inode): boolean {
    if (a.mode === b.mode && a.size === b.size && a.uid === b.uid && a.gid === b.gid && a.mtime === b.mtime
      && a.ctime === b.ctime && a.ino === b.ino && a.rdev === b.rdev) return false;
    if (!sameFormat(a, b) || a.uid !== b.uid || a.gid !== b.gid) return true;
    switch (nodeType(a.mode)) {
      case 'directory': return a.mode !== b.mode;
      case 'symlink': return !readLink(this.a, a).equals(readLink(this.b, b));
      case 'other': return a.mode !== b.mode || a.mtime !== b.mtime || a.rdev !== b.rdev;
      case 'file':
        if (a.mode !== b.mode || a.mtime !== b.mtime || a.size !== b.size) return true;
        return !sameContent(this.a, a, this.b, b);
    }
  }

  private emit(raw: string, change: DiffEntry['change'], typeOf: Inode, before: Inode | undefined, after: Inode | undefined): void {
    const ok = this.emitFn({
      path: Buffer.from(raw, 'latin1').toString('utf8'),
      change,
      type: nodeType(typeOf.mode),
      sizeBefore: before ? before.size : null,
      sizeAfter: after ? after.size : null,
    });
    if (!ok) throw new Stop();
  }
}

/** `/lost+found` of the filesystem root is skipped with all it holds. */
function skipped(raw: string): boolean {
  return raw === '/lost+found' || raw.startsWith('/lost+found/');
}

export function childRaw(dirRaw: string, name: string): string {
  return dirRaw === '/' ? `/${name}` : `${dirRaw}/${name}`;
}
