/**
 * The engine behind `hob diff`: what changed between two raw ext4 disk
 * images of the same lineage (a checkpoint and the sandbox, or two
 * checkpoints), compared on the host, read-only.
 *
 * How: both images are loop-mounted read-only (`ro,noload`: the journal is
 * never replayed; see ext4-mount.ts) under a fresh 0700 directory in
 * `scratchDir`, the two trees are walked together (ext4-walk.ts), and
 * everything is unmounted and removed again in `finally`, also on failure.
 * The caller guarantees the images are quiesced (taken from read-only
 * snapshots of a frozen or paused guest) and not written during the call.
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
 *     number moved, its bytes differ;
 *   - symlink: its target, uid or gid changed;
 *   - other (device, fifo, socket): mode, uid, gid, mtime or device number.
 *   Type, size, mode, uid, gid, mtime, ctime, inode and rdev all equal means
 *   unchanged without reading the file (snapshots keep inode numbers, and
 *   the kernel moves ctime on every write or metadata change).
 * - Not compared: atime, xattrs/ACLs, link counts by themselves.
 * - `/lost+found` (of the filesystem root) is skipped with all it holds.
 * Field values: `type` is the newer side's type (the older one's for
 * deletions); `sizeBefore`/`sizeAfter` are st_size (bytes; for a symlink the
 * target's length, for a directory its block-rounded size), null on the side
 * where the path is absent. `path` is the absolute guest path; names that
 * are not valid UTF-8 show U+FFFD. The result is sorted by path (byte order).
 *
 * Scale: memory holds one sorted listing per directory level plus the
 * result; entries are lstat'ed once per side, in small parallel batches.
 *
 * Security: guest paths never lead out of the mounts: symlinks are never
 * followed, also not in the components of `opts.path`; the mounts are
 * nosuid,nodev,noexec and only root can enter their parent directory.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { DiffEntry } from '../core/types.js';
import { HobError } from '../errors.js';
import { diffOneFile } from './ext4-file-diff.js';
import { fromRaw, parseGuestPath, resolveInRoot, toRaw, type TreeRoot } from './ext4-guest-path.js';
import { withExt4Mounts } from './ext4-mount.js';
import { TreeDiff, settleAll } from './ext4-walk.js';

export { MAX_DIFF_FILE, BINARY_PROBE } from './ext4-file-diff.js';
export { cleanupExt4Scratch } from './ext4-mount.js';

export interface Ext4DiffOptions {
  /**
   * Directory for temporary mount points (created if missing, mode 0700; must
   * be on a local filesystem). Each call uses its own `ext4-diff-XXXXXX`
   * subdirectory and removes it before returning.
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
}

const OptionsSchema = z.object({
  scratchDir: z.string().min(1).refine(isAbsolute, 'must be an absolute path'),
  path: z.string().optional(),
});

/**
 * Paths added/modified/deleted from `olderImage` to `newerImage`, sorted by path.
 * @param olderImage raw ext4 image of the earlier state (host path)
 * @param newerImage raw ext4 image of the later state (host path; may be the same file)
 * @throws BadRequestError for an invalid `opts.path`; HobError 'internal' if
 *   `scratchDir` is not absolute, an image is missing, not a regular file or
 *   not ext2/3/4, mount or umount fails (with their message), or reading the
 *   mounted tree fails (EIO of a damaged image, ...). Nothing stays mounted
 *   after a failure.
 */
export async function diffExt4Images(olderImage: string, newerImage: string, opts: Ext4DiffOptions): Promise<DiffEntry[]> {
  const { scratchDir, raw } = parseOptions(opts);
  const rawEntries = await withRoots(olderImage, newerImage, scratchDir, async (older, newer) => {
    const walk = new TreeDiff(older, newer, new Set(['/lost+found']));
    const [a, b] = await settleAll([resolveInRoot(older, raw), resolveInRoot(newer, raw)]);
    await walk.compare(raw, a, b);
    return walk.entries;
  });
  rawEntries.sort((x, y) => (x.raw < y.raw ? -1 : x.raw > y.raw ? 1 : 0));
  return rawEntries.map(({ raw: r, ...rest }) => ({ path: fromRaw(r), ...rest }));
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
 *   HobError 'internal' as for diffExt4Images, or if diff(1) fails.
 */
export async function fileDiffExt4Images(olderImage: string, newerImage: string, path: string, opts: Ext4DiffOptions): Promise<string> {
  const { scratchDir } = parseOptions(opts);
  const guestPath = parseGuestPath(path);
  return withRoots(olderImage, newerImage, scratchDir, (older, newer) => diffOneFile(older, newer, toRaw(guestPath), guestPath));
}

function parseOptions(opts: Ext4DiffOptions): { scratchDir: string; raw: string } {
  const r = OptionsSchema.safeParse(opts);
  if (!r.success) throw new HobError('internal', `invalid ext4 diff options: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join(', ')}`);
  return { scratchDir: r.data.scratchDir, raw: toRaw(r.data.path === undefined ? '/' : parseGuestPath(r.data.path)) };
}

/** Mounts both images and hands `fn` their roots; unmounts whatever happens. */
async function withRoots<T>(olderImage: string, newerImage: string, scratchDir: string, fn: (older: TreeRoot, newer: TreeRoot) => Promise<T>): Promise<T> {
  return withExt4Mounts([olderImage, newerImage], scratchDir, async ([olderDir, newerDir]) => {
    const older = await treeRoot(olderDir as string, 'older');
    const newer = await treeRoot(newerDir as string, 'newer');
    return fn(older, newer);
  });
}

async function treeRoot(dir: string, label: string): Promise<TreeRoot> {
  const real = await realpath(dir);
  return { dir: Buffer.from(real, 'utf8'), dev: (await stat(real, { bigint: true })).dev, label };
}
