/**
 * Paths inside the pool. Callers never build pool paths by string
 * concatenation: they name an area and a few single components (ids, file
 * names), each checked here, and get back a `PoolPath`. Operations check again
 * at run time that the path is under the root and crosses no symlink.
 */
import { lstat } from 'node:fs/promises';
import { join, relative, resolve, sep, isAbsolute } from 'node:path';
import { BadRequestError } from '../errors.js';

/** Top-level directories of the pool. */
export const AREAS = ['images', 'sandboxes', 'checkpoints', 'templates', 'trash'] as const;
/**
 * - `images/<name>/`: read-only image subvolumes.
 * - `sandboxes/<id>/`: one writable subvolume per sandbox.
 * - `checkpoints/<sandbox-id>/<checkpoint-id>/`: read-only snapshots.
 * - `templates/<image>/`: read-only warm templates (disk + memory of a booted VM), see template-volumes.ts.
 * - `trash/`: subvolumes being deleted in the background (emptied at start-up).
 */
export type Area = (typeof AREAS)[number];

declare const poolPathBrand: unique symbol;
/** An absolute path under a pool root whose components were validated. Build it with `Pool.path()`. */
export type PoolPath = string & { readonly [poolPathBrand]: true };

/**
 * A safe single path component: starts with a letter, digit or `_`, then
 * letters, digits, `_`, `.`, `-`; at most 128 characters. So never empty,
 * `.`, `..`, hidden, an option (`-x`), or containing `/` or NUL.
 */
export const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** @throws BadRequestError if `name` is not a SAFE_NAME. */
export function assertSafeName(name: string): void {
  if (typeof name !== 'string' || !SAFE_NAME.test(name)) {
    throw new BadRequestError(`invalid name ${JSON.stringify(name)}: must match ${SAFE_NAME.source}`);
  }
}

/** Builds `<root>/<area>/<names...>` after checking every component. */
export function buildPoolPath(root: string, area: Area, names: readonly string[]): PoolPath {
  if (!(AREAS as readonly string[]).includes(area)) throw new BadRequestError(`invalid pool area ${JSON.stringify(area)}`);
  for (const n of names) assertSafeName(n);
  return join(root, area, ...names) as PoolPath;
}

/**
 * Checks at run time that `p` is strictly below `root` (not the root, not an
 * area directory itself) and that no existing component below the root is a
 * symlink (the last one may be, with `allowFinalSymlink`, for operations that
 * act on the link itself: lstat, unlink, rename). Returns the path's
 * components relative to the root.
 * @throws BadRequestError otherwise.
 */
export async function assertInsidePool(root: string, p: string, allowFinalSymlink = false): Promise<string[]> {
  if (typeof p !== 'string' || !isAbsolute(p)) throw new BadRequestError(`not an absolute pool path: ${JSON.stringify(p)}`);
  const rel = relative(root, resolve(p));
  const parts = rel.split(sep);
  if (rel === '' || isAbsolute(rel) || parts[0] === '..' || parts.length < 2 || !(AREAS as readonly string[]).includes(parts[0] ?? '')) {
    throw new BadRequestError(`path ${JSON.stringify(p)} is not inside the pool's areas`);
  }
  for (const part of parts.slice(1)) assertSafeName(part);
  let cur = root;
  for (const [i, part] of parts.entries()) {
    cur = join(cur, part);
    if (allowFinalSymlink && i === parts.length - 1) break;
    try {
      if ((await lstat(cur)).isSymbolicLink()) throw new BadRequestError(`path ${JSON.stringify(p)} crosses a symlink at ${cur}`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw err;
    }
  }
  return parts;
}
