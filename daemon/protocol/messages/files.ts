/** The guest's files (`fs.*`): reading and writing as streams, and the unary operations with the stat they answer. */
import * as z from 'zod';
import { FileModeSchema, GuestEpochMsSchema, GuestPathSchema } from './values.js';

/** Longest file name (Linux NAME_MAX is 255 bytes, so never more UTF-16 units). */
export const MAX_FILE_NAME_LENGTH = 255;
/** Longest path or symlink target (Linux PATH_MAX). */
export const MAX_GUEST_PATH_LENGTH = 4096;

export const FsReadRequestSchema = z.object({
  op: z.literal('fs.read'),
  path: GuestPathSchema,
  offset: z.number().int().min(0).optional(),
  length: z.number().int().min(0).optional(),
});

export const FsWriteRequestSchema = z.object({
  op: z.literal('fs.write'),
  path: GuestPathSchema,
  /** Mode of a newly created file; an existing file keeps its mode. */
  mode: FileModeSchema.optional(),
  /** Create missing parent directories. */
  mkdirs: z.boolean().default(false),
});

export const FsStatRequestSchema = z.object({ op: z.literal('fs.stat'), path: GuestPathSchema });
export const FsListRequestSchema = z.object({ op: z.literal('fs.list'), path: GuestPathSchema });
export const FsMkdirRequestSchema = z.object({ op: z.literal('fs.mkdir'), path: GuestPathSchema, recursive: z.boolean().default(false), mode: FileModeSchema.optional() });
export const FsRenameRequestSchema = z.object({ op: z.literal('fs.rename'), from: GuestPathSchema, to: GuestPathSchema });
export const FsRemoveRequestSchema = z.object({ op: z.literal('fs.remove'), path: GuestPathSchema, recursive: z.boolean().default(false) });
export const FsChmodRequestSchema = z.object({ op: z.literal('fs.chmod'), path: GuestPathSchema, mode: FileModeSchema });

/**
 * The name of one directory entry: a single path component, as readdir gives
 * it. Names are joined to the listed directory's path by the host, so a name
 * with "/", NUL, or "." / ".." would make the host talk about another file.
 */
export const DirEntryNameSchema = z
  .string()
  .min(1)
  .max(MAX_FILE_NAME_LENGTH)
  .refine((n) => !n.includes('/') && !n.includes('\0'), 'an entry name must not contain "/" or NUL')
  .refine((n) => n !== '.' && n !== '..', 'an entry name must not be "." or ".."');

export const FileTypeSchema = z.enum(['file', 'directory', 'symlink', 'other']);
export const FileStatSchema = z.object({
  /** The last path component ("/" for the root). */
  name: z.string().max(MAX_FILE_NAME_LENGTH),
  type: FileTypeSchema,
  size: z.number().int().min(0),
  /** Permission bits only (the type is `type`). */
  mode: FileModeSchema,
  uid: z.number().int().min(0).max(0xffff_ffff),
  gid: z.number().int().min(0).max(0xffff_ffff),
  mtimeMs: GuestEpochMsSchema,
  /** Target of a symlink. */
  linkTarget: z.string().max(MAX_GUEST_PATH_LENGTH).optional(),
});
export type FileStat = z.infer<typeof FileStatSchema>;
/** One entry of an fs.list answer: a FileStat whose name is a valid single component. */
export const DirEntrySchema = FileStatSchema.extend({ name: DirEntryNameSchema });

export const FsReadReadySchema = z.object({ size: z.number().int().min(0) });
