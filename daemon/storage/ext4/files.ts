/**
 * Files, directories and symlinks of an Ext4Image: directory listings
 * (linear dirent blocks; an htree's index blocks parse as empty dirents, its
 * leaves are ordinary dirent blocks), inline data, symlink targets, file
 * contents and path lookup without following symlinks. Runs in the reader
 * process; every size is bounded by a constant below.
 */
import { CorruptImageError } from './errors.js';
import type { Extent, Ext4Image } from './image.js';
import { inlineBytes, nodeType, S_IFDIR, S_IFLNK, type Inode } from './inode.js';

/**
 * Largest directory read (mapped bytes). Real directories are far smaller
 * (a million entries with 40-byte names is ~50 MiB); a crafted one claiming
 * more fails here instead of filling the reader's memory.
 */
export const MAX_DIR_BYTES = 256 * 1024 * 1024;
/** Longest symlink target read (Linux PATH_MAX). */
export const MAX_SYMLINK = 4096;
/** Blocks compared at once by `sameContent` (1 MiB with 4 KiB blocks). */
const COMPARE_BLOCKS = 256;
const ROOT_INO = 2;
const SLASH = 0x2f;

export interface DirEntry {
  /** The name's bytes as a latin1 string (so string order is byte order). */
  readonly name: string;
  readonly ino: number;
}

export function isDir(i: Inode | undefined): i is Inode {
  return i !== undefined && nodeType(i.mode) === 'directory';
}

/** The entries of directory `dir` except `.` and `..`, in on-disk order. */
export function listDir(img: Ext4Image, dir: Inode): DirEntry[] {
  const out: DirEntry[] = [];
  if (dir.inlineData) {
    // i_block starts with the parent's inode number; the dirents follow, then those in system.data.
    const bytes = inlineBytes(dir, img.label);
    parseDirents(img, dir, bytes.subarray(4, 60), out);
    if (bytes.length > 60) parseDirents(img, dir, bytes.subarray(60), out);
    return out;
  }
  if (dir.size > MAX_DIR_BYTES) throw new CorruptImageError(`directory inode ${dir.ino} of the ${img.label} image is too large to read (${dir.size} bytes, the limit is ${MAX_DIR_BYTES})`);
  const bs = img.blockSize;
  for (const e of img.extents(dir, Math.ceil(MAX_DIR_BYTES / bs))) {
    if (e.unwritten) continue;
    for (let b = 0; b < e.len; b++) {
      if ((e.logical + b) * bs >= dir.size) return out;
      parseDirents(img, dir, img.block(e.physical + b), out);
    }
  }
  return out;
}

function parseDirents(img: Ext4Image, dir: Inode, buf: Buffer, out: DirEntry[]): void {
  const bad = (why: string) => new CorruptImageError(`the ${img.label} image is corrupt: directory inode ${dir.ino}: ${why}`);
  let off = 0;
  while (off < buf.length) {
    if (off + 8 > buf.length) throw bad('truncated entry');
    const ino = buf.readUInt32LE(off);
    let recLen = buf.readUInt16LE(off + 4);
    if (buf.length === 65536 && (recLen === 0 || recLen === 65535)) recLen = 65536;
    const nameLen = img.hasFileType ? buf.readUInt8(off + 6) : buf.readUInt16LE(off + 6);
    if (recLen < 8 || recLen % 4 !== 0 || off + recLen > buf.length || 8 + nameLen > recLen) throw bad(`invalid entry length at offset ${off}`);
    if (ino !== 0 && nameLen > 0) {
      const name = buf.subarray(off + 8, off + 8 + nameLen);
      if (name.includes(SLASH) || name.includes(0)) throw bad(`a name contains '/' or NUL (${JSON.stringify(name.toString('latin1'))})`);
      const s = name.toString('latin1');
      if (s !== '.' && s !== '..') out.push({ name: s, ino });
    }
    off += recLen;
  }
}

/** A symlink's target bytes. */
export function readLink(img: Ext4Image, link: Inode): Buffer {
  if (link.size > MAX_SYMLINK) throw new CorruptImageError(`symlink inode ${link.ino} of the ${img.label} image is ${link.size} bytes long (the limit is ${MAX_SYMLINK})`);
  if (link.inlineData) return inlineBytes(link, img.label).subarray(0, link.size);
  const xattrSectors = link.hasXattrBlock ? img.blockSize / 512 : 0;
  if (!link.usesExtents && link.sectors - xattrSectors === 0 && link.size < 60) return Buffer.from(link.blockArea.subarray(0, link.size));
  return readContent(img, link, link.size);
}

/** The first `length` bytes of a file (holes and unwritten extents read as zeros). */
export function readContent(img: Ext4Image, file: Inode, length: number): Buffer {
  const n = Math.min(length, file.size);
  if (file.inlineData) return inlineBytes(file, img.label).subarray(0, n);
  const out = Buffer.alloc(n);
  readInto(img, mapOf(img, file), 0, out);
  return out;
}

/** Whether two regular files of the same size have the same bytes. Holes on both sides are skipped, never read. */
export function sameContent(imgA: Ext4Image, a: Inode, imgB: Ext4Image, b: Inode): boolean {
  if (a.size !== b.size) return false;
  if (a.inlineData || b.inlineData) return readContent(imgA, a, a.size).equals(readContent(imgB, b, b.size));
  const bs = imgA.blockSize;
  if (imgB.blockSize !== bs) return readContent(imgA, a, a.size).equals(readContent(imgB, b, b.size));
  const fileBlocks = Math.ceil(a.size / bs);
  const ma = mapOf(imgA, a);
  const mb = mapOf(imgB, b);
  // The logical ranges mapped on either side, in order; everything else is a hole on both.
  const ranges = [...ma, ...mb].map((e) => [e.logical, Math.min(e.logical + e.len, fileBlocks)] as const)
    .filter(([s, e]) => s < e).sort((x, y) => x[0] - y[0]);
  let done = 0;
  for (const [start, end] of ranges) {
    for (let blk = Math.max(start, done); blk < end; blk += COMPARE_BLOCKS) {
      const count = Math.min(COMPARE_BLOCKS, end - blk);
      const bytes = Math.min(count * bs, a.size - blk * bs);
      const ba = Buffer.alloc(bytes);
      const bb = Buffer.alloc(bytes);
      readInto(imgA, ma, blk * bs, ba);
      readInto(imgB, mb, blk * bs, bb);
      if (!ba.equals(bb)) return false;
    }
    done = Math.max(done, end);
  }
  return true;
}

/** A file's extents, bounded by its size and by the image: a file cannot map more blocks than the image has. */
function mapOf(img: Ext4Image, file: Inode): Extent[] {
  return img.extents(file, Math.min(Math.ceil(file.size / img.blockSize), img.blocksCount));
}

/** Fills `out` with the file bytes from byte `offset` (zeros where nothing is mapped). */
function readInto(img: Ext4Image, map: readonly Extent[], offset: number, out: Buffer): void {
  const bs = img.blockSize;
  const end = offset + out.length;
  // First extent that ends after `offset` (map is sorted by logical block).
  let lo = 0;
  let hi = map.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const m = map[mid] as Extent;
    if ((m.logical + m.len) * bs <= offset) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < map.length; i++) {
    const e = map[i] as Extent;
    const eStart = e.logical * bs;
    if (eStart >= end) break;
    if (e.unwritten) continue;
    const from = Math.max(offset, eStart);
    const to = Math.min(end, (e.logical + e.len) * bs);
    img.read(e.physical * bs + (from - eStart), to - from).copy(out, from - offset);
  }
}

/**
 * The inode at a raw guest path, walking from the root one component at a
 * time: every component but the last must be a directory (a symlink is never
 * followed, so a path through one counts as absent), the last is not
 * followed either. Undefined when absent.
 */
export function lookup(img: Ext4Image, raw: string): Inode | undefined {
  let cur = img.inode(ROOT_INO);
  for (const part of raw.split('/').filter((c) => c !== '')) {
    if ((cur.mode & 0xf000) !== S_IFDIR) return undefined;
    const hit = listDir(img, cur).find((e) => e.name === part);
    if (!hit) return undefined;
    cur = img.inode(hit.ino);
  }
  return cur;
}

export function rootInode(img: Ext4Image): Inode {
  return img.inode(ROOT_INO);
}

export { S_IFLNK };
