/**
 * An ext4 inode as the diff needs it, parsed from its on-disk bytes
 * (guest-made: only fixed offsets are read, the in-inode xattr area is
 * range-checked). Times are kept raw (seconds word + extra word) because the
 * diff only compares them for equality.
 */
import { CorruptImageError } from './errors.js';

const S_IFMT = 0xf000;
export const S_IFDIR = 0x4000;
export const S_IFREG = 0x8000;
export const S_IFLNK = 0xa000;
const S_IFCHR = 0x2000;
const S_IFBLK = 0x6000;
const EXTENTS_FL = 0x80000;
const INLINE_DATA_FL = 0x10000000;
const XATTR_MAGIC = 0xea020000;
/** Name index of the `system.` xattr namespace, where inline data lives (`system.data`). */
const XATTR_INDEX_SYSTEM = 7;

export interface Inode {
  readonly ino: number;
  /** st_mode: type and permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly links: number;
  /** mtime and ctime as "seconds:extra" (equality only). */
  readonly mtime: string;
  readonly ctime: string;
  /** Device number words for character/block devices, '' otherwise. */
  readonly rdev: string;
  readonly usesExtents: boolean;
  readonly inlineData: boolean;
  /** i_block: 60 bytes (extent root, block pointers, fast symlink target or inline data). */
  readonly blockArea: Buffer;
  /** 512-byte sectors used (i_blocks), data and an external xattr block. */
  readonly sectors: number;
  /** Whether an external xattr block is counted in `sectors`. */
  readonly hasXattrBlock: boolean;
  /** The raw inode, for the in-inode xattr area (inline data). */
  readonly raw: Buffer;
}

export function parseInode(ino: number, raw: Buffer, label: string): Inode {
  const extra = raw.length > 128 ? raw.readUInt16LE(0x80) : 0;
  if (raw.length > 128 && 128 + extra > raw.length) throw new CorruptImageError(`the ${label} image is corrupt: invalid extra size of inode ${ino}`);
  const word = (off: number) => (128 + extra >= off + 4 ? raw.readUInt32LE(off) : 0);
  const mode = raw.readUInt16LE(0);
  const flags = raw.readUInt32LE(0x20);
  const fileAcl = raw.readUInt32LE(0x68) + raw.readUInt16LE(0x76) * 2 ** 32;
  const sectors = raw.readUInt32LE(0x1c) + raw.readUInt16LE(0x74) * 2 ** 32;
  const type = mode & S_IFMT;
  const blockArea = raw.subarray(0x28, 0x28 + 60);
  return {
    ino,
    mode,
    uid: raw.readUInt16LE(2) + raw.readUInt16LE(0x78) * 65536,
    gid: raw.readUInt16LE(0x18) + raw.readUInt16LE(0x7a) * 65536,
    size: raw.readUInt32LE(4) + raw.readUInt32LE(0x6c) * 2 ** 32,
    links: raw.readUInt16LE(0x1a),
    mtime: `${raw.readUInt32LE(0x10)}:${word(0x88)}`,
    ctime: `${raw.readUInt32LE(0x0c)}:${word(0x84)}`,
    rdev: type === S_IFCHR || type === S_IFBLK ? `${blockArea.readUInt32LE(0)}:${blockArea.readUInt32LE(4)}` : '',
    usesExtents: (flags & EXTENTS_FL) !== 0,
    inlineData: (flags & INLINE_DATA_FL) !== 0,
    blockArea,
    sectors,
    hasXattrBlock: fileAcl !== 0,
    raw,
  };
}

export type NodeType = 'file' | 'directory' | 'symlink' | 'other';

export function nodeType(mode: number): NodeType {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'directory';
    case S_IFLNK: return 'symlink';
    default: return 'other';
  }
}

export function sameFormat(a: Inode, b: Inode): boolean {
  return (a.mode & S_IFMT) === (b.mode & S_IFMT);
}

/**
 * The bytes of an inline-data inode: i_block (60 bytes) followed by the
 * value of its in-inode `system.data` xattr (absent = nothing more).
 * @throws CorruptImageError for an xattr area that runs out of the inode.
 */
export function inlineBytes(inode: Inode, label: string): Buffer {
  const raw = inode.raw;
  const extra = raw.length > 128 ? raw.readUInt16LE(0x80) : 0;
  const start = 128 + extra;
  if (raw.length < start + 4 || raw.readUInt32LE(start) !== XATTR_MAGIC) return Buffer.from(inode.blockArea);
  const bad = () => new CorruptImageError(`the ${label} image is corrupt: invalid in-inode xattrs of inode ${inode.ino}`);
  const first = start + 4;
  let at = first;
  while (at + 4 <= raw.length && raw.readUInt32LE(at) !== 0) {
    if (at + 16 > raw.length) throw bad();
    const nameLen = raw.readUInt8(at);
    const index = raw.readUInt8(at + 1);
    const valueOffs = raw.readUInt16LE(at + 2);
    const valueSize = raw.readUInt32LE(at + 8);
    if (at + 16 + nameLen > raw.length) throw bad();
    const name = raw.subarray(at + 16, at + 16 + nameLen).toString('latin1');
    if (index === XATTR_INDEX_SYSTEM && name === 'data') {
      if (first + valueOffs + valueSize > raw.length) throw bad();
      return Buffer.concat([inode.blockArea, raw.subarray(first + valueOffs, first + valueOffs + valueSize)]);
    }
    at += (16 + nameLen + 3) & ~3;
  }
  return Buffer.from(inode.blockArea);
}
