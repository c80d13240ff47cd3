/**
 * rootfs.img: a raw ext4 filesystem made from the tree with `mkfs.ext4 -d`
 * (no loop mount, no root needed for this step). It is sized to the tree plus
 * a margin; the daemon grows the file to the sandbox's disk size and the guest
 * grows the filesystem online at boot (resize2fs in /opt/hob/init).
 */
import { lstat, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ImageBuildError } from './errors.js';
import { runTool } from './run.js';

const MiB = 1024 * 1024;
const blockSize = 4096;
/** mke2fs's default bytes-per-inode for ext4: the fs needs this much room per file. */
const bytesPerInode = 16384;

export interface TreeUsage {
  /** File data and directories rounded up to whole 4 KiB blocks. */
  readonly bytes: number;
  /** Number of files, directories, links and nodes. */
  readonly inodes: number;
}

/** What the tree will occupy on ext4. Does not follow symlinks. */
export async function measureTree(tree: string): Promise<TreeUsage> {
  let bytes = 0;
  let inodes = 0;
  async function walk(dir: string): Promise<void> {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      inodes++;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        bytes += blockSize;
        await walk(p);
      } else if (e.isFile()) {
        bytes += Math.ceil((await lstat(p)).size / blockSize) * blockSize;
      }
    }
  }
  await walk(tree);
  return { bytes, inodes };
}

/**
 * Filesystem size for a tree: data plus 20 % and 128 MiB (journal, metadata, room
 * for the first boot before the grow), and enough inodes at the default ratio,
 * rounded to 64 MiB.
 */
export function fsSizeFor(u: TreeUsage): number {
  const forData = u.bytes * 1.2 + 128 * MiB;
  const forInodes = u.inodes * 1.3 * bytesPerInode;
  return Math.ceil(Math.max(forData, forInodes) / (64 * MiB)) * 64 * MiB;
}

export interface Ext4Options {
  readonly label: string;
  /** Filesystem UUID, also used as the directory hash seed so equal inputs give equal metadata. */
  readonly uuid: string;
  readonly onLine?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/**
 * Makes `dest` (replaced if present) from `tree`. Retries with more room if the
 * estimate was short. Throws ImageBuildError if mkfs.ext4 fails otherwise.
 */
export async function makeExt4(tree: string, dest: string, opts: Ext4Options): Promise<{ sizeBytes: number; usage: TreeUsage }> {
  const usage = await measureTree(tree);
  let size = fsSizeFor(usage);
  for (let attempt = 0; ; attempt++) {
    await rm(dest, { force: true });
    await writeFile(dest, '');
    await truncate(dest, size);
    try {
      await runTool(
        'mkfs.ext4',
        [
          '-q',
          '-F',
          '-d',
          tree,
          '-L',
          opts.label,
          '-U',
          opts.uuid,
          '-b',
          String(blockSize),
          // A sandbox is single-user: no blocks reserved for root.
          '-m',
          '0',
          // Nothing to zero in a fresh sparse file; keeps the image sparse.
          '-E',
          `lazy_itable_init=1,lazy_journal_init=1,hash_seed=${opts.uuid}`,
          dest,
        ],
        { ...(opts.onLine ? { onLine: opts.onLine } : {}), ...(opts.signal ? { signal: opts.signal } : {}) },
      );
      return { sizeBytes: size, usage };
    } catch (err) {
      if (attempt >= 2 || !/could not allocate|no space|not enough space|too many/i.test((err as Error).message)) {
        throw err instanceof ImageBuildError ? err : new ImageBuildError('mkfs.ext4 failed', { cause: err });
      }
      size = Math.ceil((size * 1.5) / (64 * MiB)) * 64 * MiB;
    }
  }
}

/** A UUID (RFC 4122 layout, version 4 bits) derived from a hex hash. */
export function uuidFromHash(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '4';
  h[16] = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}
