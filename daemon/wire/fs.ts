/** Files on the wire, in the Sprites shapes (daemon/api/routes/fs.ts serves them, the CLI reads them). */
import { z } from 'zod';

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
