/**
 * The engine behind `hob diff`: what changed between two raw ext4 disk
 * images of the same lineage (a checkpoint and the sandbox, or two
 * checkpoints), read in user space: the host kernel never mounts or parses
 * a guest image. A reader process (run-reader.ts: unprivileged, memory, CPU
 * and time limits) parses both images from inherited read-only descriptors
 * and streams the changes; hobd validates and caps what it says.
 * The caller guarantees the images are quiesced (read-only snapshots of a
 * frozen or paused guest) and not written during the call.
 *
 * What counts as a change (`DiffEntry.change`):
 * - `added` / `deleted`: the path exists only in the newer / older image. An
 *   added or deleted directory is reported together with every path under it
 *   (each path once).
 * - `modified`: the path exists in both and
 *   - its type changed (file ↔ directory ↔ symlink ↔ other; the content of a
 *     directory that appeared or vanished that way is added / deleted), or
 *   - directory: its own mode, uid or gid changed (not its entries or mtime);
 *   - regular file: size, mode, uid, gid or mtime (ns) changed (a `touch` or
 *     `chmod` alone is a modification), or, when only ctime or the inode
 *     number moved, its bytes differ (mapped blocks are compared; a hole on
 *     both sides is never read, so a sparse 1 TiB file costs its data only);
 *   - symlink: its target, uid or gid changed;
 *   - other (device, fifo, socket): mode, uid, gid, mtime or device number.
 *   Type, size, mode, uid, gid, mtime, ctime, inode and rdev all equal means
 *   unchanged without reading the file.
 * - Not compared: atime, xattrs/ACLs, link counts by themselves.
 * - `/lost+found` (of the filesystem root) is skipped with all it holds.
 * Field values: `type` is the newer side's type (the older one's for
 * deletions); `sizeBefore`/`sizeAfter` are the inode sizes (bytes; for a
 * symlink the target's length, for a directory its block-rounded size), null
 * on the side where the path is absent. `path` is the absolute guest path;
 * names that are not valid UTF-8 show U+FFFD. Sorted by path (byte order).
 *
 * Bounds: at most `maxEntries` (MAX_DIFF_ENTRIES) entries are held or
 * returned, the first ones by path, with `truncated: true` when there were
 * more (the reader stops walking there); the reader's own bounds are in
 * run-reader.ts, files.ts and image.ts. Guest paths never lead anywhere on
 * the host: nothing is mounted, symlinks are never followed (also not in the
 * components of `opts.path`), names with `/` or NUL make the image unreadable.
 */
import { mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { execa } from 'execa';
import * as z from 'zod';
import { BadRequestError, HobError, NotFoundError } from '../../errors.js';
import { run } from '../errors.js';
import { findMount } from '../mount.js';
import { parseGuestPath } from './guest-path.js';
import { ImageUnreadableError } from './errors.js';
import { type FileSide } from './protocol.js';
import { runReader } from './run-reader.js';
import type { DiffEntry, DiffResult } from './types.js';

export type { DiffEntry, DiffResult } from './types.js';
export { ImageUnreadableError } from './errors.js';

/**
 * Most diff entries held and returned (the first ones by path). A change
 * list this long (~10 MiB of JSON) is already far beyond what a person reads;
 * narrowing with `path` shows the rest.
 */
export const MAX_DIFF_ENTRIES = 100_000;
/** Largest file diffed (either side). */
export const MAX_DIFF_FILE = 8 * 1024 * 1024;
/** A NUL byte in this many first bytes marks a file binary (like git and GNU diff). */
export const BINARY_PROBE = 8 * 1024;
/** Longest reader line in a diff: one entry (a PATH_MAX path JSON-escaped at worst 6 bytes per byte). */
const MAX_ENTRY_LINE = 64 * 1024;
/** Longest reader line of a file diff: both files' bytes in base64, plus a margin. */
const MAX_FILE_LINE = Math.ceil((2 * MAX_DIFF_FILE * 4) / 3) + 64 * 1024;
/** Prefix of the per-operation directory in the scratch dir (one-file diffs write the two versions there). */
const PREFIX = 'ext4-diff-';

export interface Ext4DiffOptions {
  /**
   * Directory for temporary files (created if missing, mode 0700). Each file
   * diff uses its own `ext4-diff-XXXXXX` subdirectory and removes it.
   */
  scratchDir: string;
  /**
   * Only paths at or under this absolute guest path (e.g. `/root/project`).
   * Must start with `/`, contain no `..` component and no NUL
   * (BadRequestError otherwise); `//` and `.` components and a trailing `/`
   * are ignored. A path that exists in neither image, or reaches its target
   * only through a symlink, yields no entries. Default: the whole filesystem.
   */
  path?: string;
  /** Entry cap (default MAX_DIFF_ENTRIES). */
  maxEntries?: number;
  /** Wall-clock limit of the reader (ms; default READER_TIMEOUT_MS). */
  timeoutMs?: number;
}

const OptionsSchema = z.object({
  scratchDir: z.string().min(1).refine(isAbsolute, 'must be an absolute path'),
  path: z.string().optional(),
  maxEntries: z.number().int().min(1).optional(),
  timeoutMs: z.number().int().min(1).optional(),
});

/**
 * Paths added/modified/deleted from `olderImage` to `newerImage`, sorted by path.
 * @param olderImage raw ext4 image of the earlier state (host path)
 * @param newerImage raw ext4 image of the later state (host path; may be the same file)
 * @throws BadRequestError for an invalid `opts.path`; HobError 'internal' if an
 *   image is missing or not a regular file; ImageUnreadableError if an image is
 *   not ext2/3/4, is corrupt, uses an unsupported feature, or the reader failed
 *   or hit a limit.
 */
export async function diffExt4Images(olderImage: string, newerImage: string, opts: Ext4DiffOptions): Promise<DiffResult> {
  const o = parseOptions(opts);
  const path = o.path === undefined ? '/' : parseGuestPath(o.path);
  const maxEntries = o.maxEntries ?? MAX_DIFF_ENTRIES;
  const entries: DiffEntry[] = [];
  let truncated: boolean | undefined;
  await runReader({ mode: 'diff', path, maxEntries }, [olderImage, newerImage], { maxLineBytes: MAX_ENTRY_LINE, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }, (line) => {
    if (line.t === 'end') {
      truncated = line.truncated;
      return false;
    }
    if (line.t !== 'entry') throw new ImageUnreadableError(`the reader answered a ${line.t} line to a diff`);
    const { t: _t, ...entry } = line;
    // The reader stops at the cap itself; one more entry than asked is its fault, and the cap holds regardless.
    if (entries.length === maxEntries) {
      truncated = true;
      return false;
    }
    entries.push(entry);
    return true;
  });
  if (truncated === undefined) throw new ImageUnreadableError('the reader stopped before the end of the diff');
  return { entries, truncated };
}

/**
 * Unified diff (like `diff -u`, labels `a/<path>` and `b/<path>` without the
 * path's leading `/`) of one file from `olderImage` to `newerImage`; '' when
 * equal. A file absent on one side diffs against empty.
 * @param path absolute guest path of the file; validated like `opts.path`
 *   (`opts.path` itself is ignored here)
 * @throws BadRequestError for an invalid path, a binary file (NUL byte in
 *   the first 8 KiB on either side), a file larger than 8 MiB on either
 *   side, or a path that is not a regular file on a side where it exists
 *   (directory, symlink, device...; a path reached only through a symlink
 *   counts as absent); NotFoundError when the path exists in neither image;
 *   HobError 'internal' / ImageUnreadableError as for diffExt4Images, or
 *   HobError 'internal' if diff(1) fails.
 */
export async function fileDiffExt4Images(olderImage: string, newerImage: string, path: string, opts: Ext4DiffOptions): Promise<string> {
  const o = parseOptions(opts);
  const guestPath = parseGuestPath(path);
  let sides: [FileSide, FileSide] | undefined;
  await runReader({ mode: 'file', path: guestPath, maxFileBytes: MAX_DIFF_FILE }, [olderImage, newerImage], { maxLineBytes: MAX_FILE_LINE, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }, (line) => {
    if (line.t !== 'file') throw new ImageUnreadableError(`the reader answered a ${line.t} line to a file diff`);
    sides = [line.older, line.newer];
    return false;
  });
  if (!sides) throw new ImageUnreadableError('the reader stopped without an answer');
  const [a, b] = sides;
  if (!a && !b) throw new NotFoundError(`${guestPath} exists in neither state`);
  const older = a ? contentOf(a, guestPath, 'older') : undefined;
  const newer = b ? contentOf(b, guestPath, 'newer') : undefined;
  return unifiedDiff(o.scratchDir, guestPath, older, newer);
}

/** The checked bytes of one side. */
function contentOf(side: NonNullable<FileSide>, path: string, label: string): Buffer {
  if (side.type !== 'file') throw new BadRequestError(`${path} is not a regular file (it is a ${side.type}): only files can be diffed`);
  if (side.size > MAX_DIFF_FILE) throw new BadRequestError(`${path} is too large to diff in the ${label} state: ${side.size} bytes, the limit is ${MAX_DIFF_FILE}`);
  const data = side.data === undefined ? undefined : Buffer.from(side.data, 'base64');
  if (!data || data.length !== side.size) throw new ImageUnreadableError(`the reader sent ${data?.length ?? 'no'} bytes of ${path} for a size of ${side.size}`);
  if (data.subarray(0, BINARY_PROBE).includes(0)) throw new BadRequestError(`${path} is a binary file (NUL byte in its first ${BINARY_PROBE} bytes in the ${label} state)`);
  return data;
}

/** GNU `diff -u -a` of two byte strings (undefined = absent, diffed as /dev/null), through 0600 files in a fresh 0700 directory. */
async function unifiedDiff(scratchDir: string, path: string, older: Buffer | undefined, newer: Buffer | undefined): Promise<string> {
  await mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(await realpath(scratchDir), PREFIX));
  try {
    const put = async (name: string, data: Buffer | undefined) => {
      if (!data) return '/dev/null';
      await writeFile(join(dir, name), data, { mode: 0o600 });
      return join(dir, name);
    };
    const label = path.replace(/^\/+/, '');
    const r = await execa('diff', ['-u', '-a', '--label', `a/${label}`, '--label', `b/${label}`, await put('a', older), await put('b', newer)], {
      env: { LC_ALL: 'C' }, stdin: 'ignore', reject: false, stripFinalNewline: false, maxBuffer: 256 * 1024 * 1024,
    });
    if (r.exitCode === 0) return '';
    if (r.exitCode === 1) return r.stdout;
    throw new HobError('internal', `diff of ${path} failed: ${(r.stderr || r.shortMessage || '').trim()}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function parseOptions(opts: Ext4DiffOptions): z.infer<typeof OptionsSchema> {
  const r = OptionsSchema.safeParse(opts);
  if (!r.success) throw new HobError('internal', `invalid ext4 diff options: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join(', ')}`);
  return r.data;
}

/**
 * Removes what a crashed process left in `scratchDir` (`ext4-diff-*`
 * directories; an older hobd mounted images there, so a leftover mount is
 * detached first). Call it at daemon start-up only, never while a diff may
 * run. Returns the number of leftover directories removed.
 */
export async function cleanupExt4Scratch(scratchDir: string): Promise<number> {
  const root = await realpath(scratchDir).catch(() => undefined);
  if (!root) return 0;
  let n = 0;
  for (const name of await readdir(root)) {
    if (!name.startsWith(PREFIX)) continue;
    const base = join(root, name);
    for (const sub of await readdir(base).catch(() => [] as string[])) {
      if (await findMount(join(base, sub))) await run('umount', ['-l', join(base, sub)]);
    }
    await rm(base, { recursive: true, force: true });
    n++;
  }
  return n;
}
