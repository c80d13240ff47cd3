/**
 * A read-only ext2/3/4 reader over an open file descriptor, in user space:
 * superblock, group descriptors, inodes and their block maps (extent trees
 * and ext2/3 indirect blocks). It runs inside the reader process
 * (reader-main.ts), never in hobd, because every byte it parses is
 * guest-made: every structure is range-checked and anything invalid throws
 * CorruptImageError; features that change the on-disk layout in ways this
 * reader does not know are refused (UNSUPPORTED_INCOMPAT).
 *
 * The journal is never replayed (like a `noload` mount): the image is read as
 * the guest's last checkpointed metadata; hob takes images of a frozen or
 * paused guest whose filesystem was synced, so the journal holds nothing new.
 */
import { readSync } from 'node:fs';
import { CorruptImageError } from './errors.js';
import { parseInode, type Inode } from './inode.js';

const SUPERBLOCK_OFFSET = 1024;
const EXT_MAGIC = 0xef53;
const EXTENT_MAGIC = 0xf30a;
/** ext4's own limit on extent tree depth. */
const MAX_EXTENT_DEPTH = 5;
/**
 * Extent tree nodes read for one inode at most: 65536 nodes of 340 extents
 * map far more than any real file, and it stops a crafted tree whose index
 * entries all point at the same empty subtree from reading forever.
 */
const MAX_EXTENT_NODES = 65536;
/** Inode table bytes read at once and cached (the walk reads neighbouring inodes). */
const INODE_CHUNK = 64 * 1024;
/** Inode table chunks kept (INODE_CHUNK each: 16 MiB). */
const INODE_CACHE_CHUNKS = 256;

const INCOMPAT = {
  FILETYPE: 0x2, RECOVER: 0x4, META_BG: 0x10, EXTENTS: 0x40, BIT64: 0x80, MMP: 0x100, FLEX_BG: 0x200,
  EA_INODE: 0x400, CSUM_SEED: 0x2000, LARGEDIR: 0x4000, INLINE_DATA: 0x8000, CASEFOLD: 0x20000,
} as const;
/**
 * Incompatible features this reader understands; any other bit (compression,
 * journal device, dirdata, encryption, ...) makes the image unreadable with a
 * clear message instead of a wrong diff. CASEFOLD only changes lookups, which
 * this reader does byte-exact (like the names listed).
 */
const KNOWN_INCOMPAT = Object.values(INCOMPAT).reduce((a, b) => a | b, 0);
const RO_COMPAT_SPARSE_SUPER = 0x1;

/** One mapped run of a file: logical block → physical block, `len` blocks; `unwritten` reads as zeros. */
export interface Extent {
  readonly logical: number;
  readonly physical: number;
  readonly len: number;
  readonly unwritten: boolean;
}

export class Ext4Image {
  readonly blockSize: number;
  readonly blocksCount: number;
  readonly inodesCount: number;
  readonly hasFileType: boolean;
  private readonly inodesPerGroup: number;
  private readonly inodeSize: number;
  private readonly inodeTables: number[];
  private readonly cache = new Map<number, Buffer>();

  /** @throws CorruptImageError if `fd` holds no ext2/3/4 superblock this reader can use. */
  constructor(private readonly fd: number, readonly label: string) {
    const sb = this.read(SUPERBLOCK_OFFSET, 1024);
    if (sb.readUInt16LE(56) !== EXT_MAGIC) throw new CorruptImageError(`the ${label} image is not an ext4 filesystem (no ext2/3/4 superblock)`);
    const logBlock = sb.readUInt32LE(24);
    if (logBlock > 6) throw new CorruptImageError(`the ${label} image has an invalid block size (log ${logBlock})`);
    this.blockSize = 1024 << logBlock;
    const incompat = sb.readUInt32LE(96);
    const unknown = incompat & ~KNOWN_INCOMPAT;
    if (unknown !== 0) throw new CorruptImageError(`the ${label} image uses an unsupported ext4 feature (incompat 0x${unknown.toString(16)})`);
    const is64 = (incompat & INCOMPAT.BIT64) !== 0;
    this.hasFileType = (incompat & INCOMPAT.FILETYPE) !== 0;
    this.blocksCount = sb.readUInt32LE(4) + (is64 ? sb.readUInt32LE(336) * 2 ** 32 : 0);
    this.inodesCount = sb.readUInt32LE(0);
    this.inodesPerGroup = sb.readUInt32LE(40);
    const blocksPerGroup = sb.readUInt32LE(32);
    const firstDataBlock = sb.readUInt32LE(20);
    const rev = sb.readUInt32LE(76);
    this.inodeSize = rev === 0 ? 128 : sb.readUInt16LE(88);
    const descSize = is64 ? sb.readUInt16LE(254) : 32;
    if (this.inodeSize < 128 || this.inodeSize > this.blockSize || (this.inodeSize & (this.inodeSize - 1)) !== 0) throw this.corrupt(`inode size ${this.inodeSize}`);
    if (blocksPerGroup === 0 || this.inodesPerGroup === 0 || this.inodesCount === 0) throw this.corrupt('empty block or inode groups');
    if (descSize < 32 || descSize > 1024 || (descSize & (descSize - 1)) !== 0) throw this.corrupt(`group descriptor size ${descSize}`);
    const groups = Math.ceil(this.inodesCount / this.inodesPerGroup);
    if (groups > Math.ceil((this.blocksCount - firstDataBlock) / blocksPerGroup) + 1) throw this.corrupt(`${groups} inode groups for ${this.blocksCount} blocks`);
    const perBlock = this.blockSize / descSize;
    const metaBg = (incompat & INCOMPAT.META_BG) !== 0;
    const firstMetaBg = sb.readUInt32LE(260);
    const sparse = (sb.readUInt32LE(100) & RO_COMPAT_SPARSE_SUPER) !== 0;
    const descBlock = (b: number): number => {
      if (!metaBg || b < firstMetaBg) return firstDataBlock + 1 + b;
      const g = b * perBlock;
      return firstDataBlock + g * blocksPerGroup + (groupHasSuper(g, sparse) ? 1 : 0);
    };
    this.inodeTables = [];
    for (let b = 0; b * perBlock < groups; b++) {
      const block = this.block(descBlock(b));
      for (let i = 0; i < perBlock && b * perBlock + i < groups; i++) {
        const d = i * descSize;
        const table = block.readUInt32LE(d + 8) + (descSize >= 64 ? block.readUInt32LE(d + 0x28) * 2 ** 32 : 0);
        this.checkBlockRange(table, Math.ceil((this.inodesPerGroup * this.inodeSize) / this.blockSize), 'inode table');
        this.inodeTables.push(table);
      }
    }
  }

  /** Bytes at `offset` (exactly `length`). @throws CorruptImageError past the end of the image. */
  read(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    let n = 0;
    while (n < length) {
      const r = readSync(this.fd, buf, n, length - n, offset + n);
      if (r === 0) throw new CorruptImageError(`the ${this.label} image ends before byte ${offset + length} (truncated or corrupt)`);
      n += r;
    }
    return buf;
  }

  /** `count` whole blocks from `block`. */
  blocks(block: number, count: number): Buffer {
    this.checkBlockRange(block, count, 'block');
    return this.read(block * this.blockSize, count * this.blockSize);
  }

  block(block: number): Buffer {
    return this.blocks(block, 1);
  }

  /** The inode `ino`. @throws CorruptImageError for an inode number outside the filesystem. */
  inode(ino: number): Inode {
    if (!Number.isInteger(ino) || ino < 1 || ino > this.inodesCount) throw this.corrupt(`inode number ${ino}`);
    const group = Math.floor((ino - 1) / this.inodesPerGroup);
    const offset = (this.inodeTables[group] as number) * this.blockSize + ((ino - 1) % this.inodesPerGroup) * this.inodeSize;
    const chunkStart = offset - (offset % INODE_CHUNK);
    let chunk = this.cache.get(chunkStart);
    if (!chunk) {
      chunk = this.readUpTo(chunkStart, INODE_CHUNK);
      if (this.cache.size >= INODE_CACHE_CHUNKS) this.cache.delete(this.cache.keys().next().value as number);
      this.cache.set(chunkStart, chunk);
    }
    const at = offset - chunkStart;
    if (at + this.inodeSize > chunk.length) throw new CorruptImageError(`inode ${ino} of the ${this.label} image lies past its end`);
    return parseInode(ino, chunk.subarray(at, at + this.inodeSize), this.label);
  }

  /**
   * The block map of an inode as extents sorted by logical block, holes left
   * out. Extent trees are checked as they are read: magic, entry counts,
   * depth decreasing by one per level (so no loops), logical blocks strictly
   * increasing (so no block listed twice), physical blocks inside the image,
   * at most `maxBlocks` mapped blocks in all (the caller's bound).
   */
  extents(inode: Inode, maxBlocks: number): Extent[] {
    const out: Extent[] = [];
    const state = { mapped: 0, next: 0, nodes: 0 };
    const push = (e: Extent): void => {
      if (e.len === 0) return;
      if (e.logical < state.next) throw this.corrupt(`overlapping or unsorted block map of inode ${inode.ino}`);
      this.checkBlockRange(e.physical, e.len, `data of inode ${inode.ino}`);
      state.mapped += e.len;
      if (state.mapped > maxBlocks) throw new CorruptImageError(`inode ${inode.ino} of the ${this.label} image maps more than ${maxBlocks} blocks`);
      state.next = e.logical + e.len;
      const last = out[out.length - 1];
      if (last && !last.unwritten && !e.unwritten && last.logical + last.len === e.logical && last.physical + last.len === e.physical) {
        out[out.length - 1] = { ...last, len: last.len + e.len };
      } else out.push(e);
    };
    if (inode.usesExtents) this.walkExtentNode(inode.blockArea, -1, inode.ino, push, state);
    else this.walkIndirect(inode, push);
    return out;
  }

  private walkExtentNode(node: Buffer, parentDepth: number, ino: number, push: (e: Extent) => void, state: { nodes: number }): void {
    if (++state.nodes > MAX_EXTENT_NODES) throw this.corrupt(`extent tree of inode ${ino} (more than ${MAX_EXTENT_NODES} nodes)`);
    if (node.readUInt16LE(0) !== EXTENT_MAGIC) throw this.corrupt(`extent header of inode ${ino}`);
    const entries = node.readUInt16LE(2);
    const max = node.readUInt16LE(4);
    const depth = node.readUInt16LE(6);
    if (entries > max || 12 + max * 12 > node.length) throw this.corrupt(`extent node of inode ${ino} (${entries}/${max} entries)`);
    if (depth > MAX_EXTENT_DEPTH || (parentDepth >= 0 && depth !== parentDepth - 1)) throw this.corrupt(`extent tree depth of inode ${ino}`);
    for (let i = 0; i < entries; i++) {
      const e = 12 + i * 12;
      const logical = node.readUInt32LE(e);
      if (depth === 0) {
        const rawLen = node.readUInt16LE(e + 4);
        const unwritten = rawLen > 32768;
        push({ logical, len: unwritten ? rawLen - 32768 : rawLen, physical: node.readUInt16LE(e + 6) * 2 ** 32 + node.readUInt32LE(e + 8), unwritten });
      } else {
        const child = node.readUInt32LE(e + 4) + node.readUInt16LE(e + 8) * 2 ** 32;
        this.walkExtentNode(this.block(child), depth, ino, push, state);
      }
    }
  }

  /** ext2/3 block map: 12 direct pointers, then single, double and triple indirect blocks; 0 is a hole. */
  private walkIndirect(inode: Inode, push: (e: Extent) => void): void {
    const perBlock = this.blockSize / 4;
    const fileBlocks = Math.ceil(inode.size / this.blockSize);
    const area = inode.blockArea;
    for (let i = 0; i < 12 && i < fileBlocks; i++) {
      const p = area.readUInt32LE(i * 4);
      if (p !== 0) push({ logical: i, physical: p, len: 1, unwritten: false });
    }
    let start = 12;
    for (let level = 1; level <= 3; level++) {
      const span = perBlock ** level;
      const p = area.readUInt32LE((11 + level) * 4);
      if (p !== 0 && start < fileBlocks) this.walkIndirectBlock(p, level, start, fileBlocks, push);
      start += span;
    }
  }

  private walkIndirectBlock(block: number, level: number, first: number, fileBlocks: number, push: (e: Extent) => void): void {
    const perBlock = this.blockSize / 4;
    const ptrs = this.block(block);
    const span = perBlock ** (level - 1);
    for (let i = 0; i < perBlock; i++) {
      const logical = first + i * span;
      if (logical >= fileBlocks) return;
      const p = ptrs.readUInt32LE(i * 4);
      if (p === 0) continue;
      if (level === 1) push({ logical, physical: p, len: 1, unwritten: false });
      else this.walkIndirectBlock(p, level - 1, logical, fileBlocks, push);
    }
  }

  private readUpTo(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(this.fd, buf, 0, length, offset);
    return buf.subarray(0, n);
  }

  private checkBlockRange(block: number, count: number, what: string): void {
    if (!Number.isSafeInteger(block) || block < 1 || block + count > this.blocksCount) throw this.corrupt(`${what} at block ${block} (+${count}) outside the filesystem (${this.blocksCount} blocks)`);
  }

  corrupt(what: string): CorruptImageError {
    return new CorruptImageError(`the ${this.label} image is corrupt: invalid ${what}`);
  }
}

/** Whether block group `g` holds a superblock backup (all do without sparse_super). */
function groupHasSuper(g: number, sparse: boolean): boolean {
  if (!sparse || g <= 1) return true;
  for (const p of [3, 5, 7]) {
    let x = p;
    while (x < g) x *= p;
    if (x === g) return true;
  }
  return false;
}
