/**
 * Guest paths for the ext4 image diff: validation of the paths callers pass,
 * and resolution of a guest path inside a host mount point without ever
 * leaving it.
 *
 * Internally a guest path is a "raw" path: a latin1 string whose characters
 * are the bytes of the on-disk name. That keeps names that are not valid
 * UTF-8 intact on their way to the kernel, and makes JavaScript's string
 * order equal to byte order. `toRaw`/`fromRaw` convert at the edges (output
 * is UTF-8; a name that is not valid UTF-8 shows U+FFFD there).
 */
import type { BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { z } from 'zod';
import { BadRequestError, HobError } from '../errors.js';

/** Longest guest path accepted (Linux PATH_MAX). */
const MAX_PATH = 4096;

/**
 * An absolute guest path: starts with `/`, no NUL, no `..` component, at
 * most 4096 bytes. Empty and `.` components are dropped and a trailing `/`
 * removed, so `/root//x/./` becomes `/root/x`.
 */
export const GuestPathSchema = z.string()
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."')
  .refine((p) => Buffer.byteLength(p) <= MAX_PATH, `must be at most ${MAX_PATH} bytes`)
  .transform((p) => `/${p.split('/').filter((c) => c !== '' && c !== '.').join('/')}`);

/** Validates and normalises a guest path. @throws BadRequestError naming the rule broken. */
export function parseGuestPath(path: unknown): string {
  const r = GuestPathSchema.safeParse(path);
  if (!r.success) throw new BadRequestError(`invalid guest path ${JSON.stringify(path)}: ${r.error.issues.map((i) => i.message).join(', ')}`);
  return r.data;
}

/** UTF-8 guest path → raw (latin1 byte string). */
export function toRaw(path: string): string {
  return Buffer.from(path, 'utf8').toString('latin1');
}

/** Raw path → UTF-8 guest path for output. */
export function fromRaw(raw: string): string {
  return Buffer.from(raw, 'latin1').toString('utf8');
}

/** `raw` appended to `name` with a `/`, for a raw directory path (`/` for the root). */
export function childRaw(dirRaw: string, name: string): string {
  return dirRaw === '/' ? `/${name}` : `${dirRaw}/${name}`;
}

/** One mounted image: its mount point and device, both fixed for the whole diff. */
export interface TreeRoot {
  /** The mount point as bytes (UTF-8), without a trailing `/`. */
  readonly dir: Buffer;
  /** st_dev of the mount point: entries on another device are not part of the image. */
  readonly dev: bigint;
  /** For error messages: "older" or "newer". */
  readonly label: string;
}

/** Host path of a raw guest path under a root, as bytes. */
export function hostPath(root: TreeRoot, raw: string): Buffer {
  return Buffer.concat([root.dir, Buffer.from(raw === '/' ? '' : raw, 'latin1')]);
}

/** lstat with ns times; undefined for ENOENT/ENOTDIR. @throws HobError 'internal' for anything else (EIO of a damaged image...). */
export async function lstatRaw(root: TreeRoot, raw: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(hostPath(root, raw), { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw ioError(root, raw, 'lstat', err);
  }
}

/** A HobError 'internal' for a failed read of `raw` in the image `root`. */
export function ioError(root: TreeRoot, raw: string, op: string, err: unknown): HobError {
  return new HobError('internal', `${op} ${fromRaw(raw)} in the ${root.label} image failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * lstat of a guest path, walking it one component at a time from the mount
 * point. Every component but the last must be a real directory on the
 * image's device: a symlink is never followed (a guest's `/root/x -> /etc`
 * would otherwise lead to the host's /etc). The last component is not
 * followed either. Returns undefined when the path does not exist in the
 * image or goes through a symlink or non-directory.
 * @throws HobError 'internal' on I/O errors.
 */
export async function resolveInRoot(root: TreeRoot, raw: string): Promise<BigIntStats | undefined> {
  const parts = raw.split('/').filter((c) => c !== '');
  let cur = '/';
  let st = await lstatRaw(root, cur);
  for (const part of parts) {
    if (!st || !st.isDirectory() || st.dev !== root.dev) return undefined;
    cur = childRaw(cur, part);
    st = await lstatRaw(root, cur);
  }
  return st && st.dev === root.dev ? st : undefined;
}
