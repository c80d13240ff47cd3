/**
 * Validation of the guest paths callers pass to the ext4 diff (`path`
 * filters, the file of a one-file diff).
 */
import * as z from 'zod';
import { BadRequestError } from '../../errors.js';
import { MAX_PATH_BYTES } from './types.js';

/**
 * An absolute guest path: starts with `/`, no NUL, no `..` component, at
 * most 4096 bytes. Empty and `.` components are dropped and a trailing `/`
 * removed, so `/root//x/./` becomes `/root/x`.
 */
export const GuestPathSchema = z.string()
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."')
  .refine((p) => Buffer.byteLength(p) <= MAX_PATH_BYTES, `must be at most ${MAX_PATH_BYTES} bytes`)
  .transform((p) => `/${p.split('/').filter((c) => c !== '' && c !== '.').join('/')}`);

/** Validates and normalises a guest path. @throws BadRequestError naming the rule broken. */
export function parseGuestPath(path: unknown): string {
  const r = GuestPathSchema.safeParse(path);
  if (!r.success) throw new BadRequestError(`invalid guest path ${JSON.stringify(path)}: ${r.error.issues.map((i) => i.message).join(', ')}`);
  return r.data;
}
