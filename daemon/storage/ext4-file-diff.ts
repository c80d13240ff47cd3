/**
 * Unified diff of one file between two mounted trees, behind
 * `fileDiffExt4Images`. The text diff itself is GNU diff's (`diff -u -a`),
 * run on file descriptors this process opened (through
 * `/proc/<pid>/fd/<n>`), so it reads exactly the files that were checked,
 * whatever bytes their names hold.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { execa } from 'execa';
import { BadRequestError, HobError, NotFoundError } from '../errors.js';
import { hostPath, ioError, resolveInRoot, type TreeRoot } from './ext4-guest-path.js';
import { entryType, settleAll } from './ext4-walk.js';

/** Largest file diffed (either side). */
export const MAX_DIFF_FILE = 8 * 1024 * 1024;
/** A NUL byte in this many first bytes marks a file binary (like git and GNU diff). */
export const BINARY_PROBE = 8 * 1024;

/**
 * `diff -u` of `raw` (display name `path`) from `older` to `newer`, with the
 * labels `a/<path>` and `b/<path>` (the leading `/` of the guest path
 * dropped, as git does); '' when equal. A side where the file is absent is
 * diffed as empty (`/dev/null`).
 * @throws NotFoundError if it exists on neither side; BadRequestError if it is
 *   not a regular file on a side where it exists (directory, symlink, ...),
 *   larger than MAX_DIFF_FILE, or binary; HobError 'internal' on I/O errors or
 *   if diff fails.
 */
export async function diffOneFile(older: TreeRoot, newer: TreeRoot, raw: string, path: string): Promise<string> {
  const [sa, sb] = await settleAll([resolveInRoot(older, raw), resolveInRoot(newer, raw)]);
  if (!sa && !sb) throw new NotFoundError(`${path} exists in neither state`);
  for (const st of [sa, sb]) {
    if (st && !st.isFile()) throw new BadRequestError(`${path} is not a regular file (it is a ${entryType(st)}): only files can be diffed`);
  }
  const fa = sa ? await openChecked(older, raw, path) : undefined;
  try {
    const fb = sb ? await openChecked(newer, raw, path) : undefined;
    try {
      const label = path.replace(/^\/+/, '');
      const r = await execa('diff', ['-u', '-a', '--label', `a/${label}`, '--label', `b/${label}`, procPath(fa), procPath(fb)], {
        env: { LC_ALL: 'C' }, stdin: 'ignore', reject: false, stripFinalNewline: false, maxBuffer: 256 * 1024 * 1024,
      });
      if (r.exitCode === 0) return '';
      if (r.exitCode === 1) return r.stdout;
      throw new HobError('internal', `diff of ${path} failed: ${(r.stderr || r.shortMessage || '').trim()}`);
    } finally {
      await fb?.close();
    }
  } finally {
    await fa?.close();
  }
}

/**
 * Opens the regular file `raw` (not following a final symlink) and checks it
 * again on the handle: still a regular file, at most MAX_DIFF_FILE, no NUL in
 * its first BINARY_PROBE bytes.
 */
async function openChecked(root: TreeRoot, raw: string, path: string): Promise<FileHandle> {
  const fh = await open(hostPath(root, raw), constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: unknown) => { throw ioError(root, raw, 'open', e); });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BadRequestError(`${path} is not a regular file`);
    if (st.size > MAX_DIFF_FILE) {
      throw new BadRequestError(`${path} is too large to diff in the ${root.label} state: ${st.size} bytes, the limit is ${MAX_DIFF_FILE}`);
    }
    const probe = Buffer.alloc(BINARY_PROBE);
    const { bytesRead } = await fh.read(probe, 0, BINARY_PROBE, 0);
    if (probe.subarray(0, bytesRead).includes(0)) throw new BadRequestError(`${path} is a binary file (NUL byte in its first ${BINARY_PROBE} bytes in the ${root.label} state)`);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** A path the diff child opens to read our handle's file; /dev/null for an absent side. */
function procPath(fh: FileHandle | undefined): string {
  return fh ? `/proc/${process.pid}/fd/${fh.fd}` : '/dev/null';
}
