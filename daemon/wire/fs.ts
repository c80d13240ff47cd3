/**
 * Files on the wire, in the Sprites shapes (daemon/api/routes/fs.ts serves them,
 * the CLI reads them), then the file requests' queries and bodies.
 */
import { posix } from 'node:path';
import * as z from 'zod';
import { AbsoluteGuestPath, GuestPathText, QueryBool } from './request-primitives.js';

/** One entry of a listing. */
export const FsEntry = z.looseObject({
  name: z.string(),
  path: z.string(),
  /** file, directory, symlink, other. */
  type: z.string(),
  size: z.number(),
  /** Permission bits as four octal digits ("0644"). */
  mode: z.string(),
  /** ISO 8601. */
  modTime: z.string(),
  isDir: z.boolean(),
});
export type FsEntry = z.infer<typeof FsEntry>;

/** `GET .../fs/list`: the directory's entries, or the file itself. */
export const FsList = z.looseObject({ path: z.string(), entries: z.array(FsEntry), count: z.number() });
export type FsList = z.infer<typeof FsList>;

/** `PUT .../fs/write`. */
export const FsWriteResult = z.looseObject({ path: z.string(), size: z.number(), mode: z.string() });
export type FsWriteResult = z.infer<typeof FsWriteResult>;

// ---------------------------------------------------------------- requests

/** Resolves a client path against a working directory into a normalized absolute guest path. */
export function resolveGuestPath(path: string, workingDir: string | undefined): string {
  return posix.resolve(workingDir ?? '/', path);
}

/** A file mode: an octal string ("0644", "755") as the Sprites SDKs send it, or a number (the mode's value). */
export const FileModeSchema = z.union([
  z
    .string()
    .regex(/^0?[0-7]{1,4}$/, 'must be an octal mode such as 0644')
    .transform((v) => parseInt(v, 8)),
  z.number().int().min(0).max(0o7777),
]);

/** Formats a mode as Sprites does: four octal digits of the permission bits. */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

const WorkingDir = AbsoluteGuestPath.optional();

export const FsPathQuery = z.object({ path: GuestPathText, workingDir: WorkingDir });

export const FsWriteQuery = z.object({
  path: GuestPathText,
  workingDir: WorkingDir,
  mode: FileModeSchema.optional(),
  mkdirParents: QueryBool.optional(),
  /** The Sprites docs' name for mkdirParents. */
  mkdir: QueryBool.optional(),
});

export const FsDeleteQuery = z.object({
  path: GuestPathText,
  workingDir: WorkingDir,
  recursive: QueryBool.default(false),
});

export const FsRenameBody = z.object({ source: GuestPathText, dest: GuestPathText, workingDir: WorkingDir });

export const FsChmodBody = z.object({ path: GuestPathText, workingDir: WorkingDir, mode: FileModeSchema });

/** `POST .../fs/copy` (the SDKs' copyFile). */
export const FsCopyBody = z.object({
  source: GuestPathText,
  dest: GuestPathText,
  workingDir: WorkingDir,
  recursive: z.boolean().optional(),
  /** Keep mode, ownership and times (`cp -a`). */
  preserveAttrs: z.boolean().optional(),
  /** hob's file API always works as root: accepted and ignored. */
  asRoot: z.boolean().optional(),
});

/** A user or group: a numeric id, or a name as the guest's passwd/group files have it. */
const OwnerSchema = z.union([
  z.number().int().min(0).max(0xffff_fffe),
  z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}\$?$/i, 'must be a user or group name or a numeric id'),
]);

/** `POST .../fs/chown` (the SDKs' chown): at least one of uid and gid. */
export const FsChownBody = z
  .object({
    path: GuestPathText,
    workingDir: WorkingDir,
    uid: OwnerSchema.optional(),
    gid: OwnerSchema.optional(),
    recursive: z.boolean().optional(),
    asRoot: z.boolean().optional(),
  })
  .refine((b) => b.uid !== undefined || b.gid !== undefined, 'uid or gid is required');
