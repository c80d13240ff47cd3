/**
 * What hobd and the ext4 reader process (reader-main.ts) say to each other:
 * one request as the reader's argument, answers as JSON lines on its stdout.
 * hobd validates every line with these schemas: the reader parses
 * guest-made bytes, so its output is treated as hostile too.
 */
import * as z from 'zod';

import { MAX_PATH_BYTES } from './types.js';

/**
 * hobd's request (made by hobd itself, so the reader trusts it). The reader
 * imports only types from this module: loading zod would double its start-up time.
 */
export type ReaderRequest = ReaderPrivileges & (
  /** The changes under `path` (a parsed guest path), at most `maxEntries` of them. */
  | { readonly mode: 'diff'; readonly path: string; readonly maxEntries: number }
  /** Type and size of `path` on both sides, and its bytes where it is a regular file of at most `maxFileBytes`. */
  | { readonly mode: 'file'; readonly path: string; readonly maxFileBytes: number });

export interface ReaderPrivileges {
  /**
   * The uid/gid the reader switches to once its code is loaded and before it
   * reads a byte of an image (hobd as root: READER_UID); absent when hobd is
   * not root (the reader is already unprivileged).
   */
  readonly dropTo?: number;
}

const NodeTypeSchema = z.enum(['file', 'directory', 'symlink', 'other']);
const SizeSchema = z.number().min(0);

export const EntryLineSchema = z.object({
  t: z.literal('entry'),
  path: z.string().startsWith('/').max(MAX_PATH_BYTES),
  change: z.enum(['added', 'modified', 'deleted']),
  type: NodeTypeSchema,
  sizeBefore: SizeSchema.nullable(),
  sizeAfter: SizeSchema.nullable(),
});

const FileSideSchema = z.object({ type: NodeTypeSchema, size: SizeSchema, data: z.base64().optional() }).nullable();
export type FileSide = z.infer<typeof FileSideSchema>;

export const ReaderLineSchema = z.discriminatedUnion('t', [
  EntryLineSchema,
  z.object({ t: z.literal('end'), truncated: z.boolean() }),
  z.object({ t: z.literal('file'), older: FileSideSchema, newer: FileSideSchema }),
  /** The reader failed: `corrupt` when the image itself is invalid (else a reader bug or limit). */
  z.object({ t: z.literal('error'), corrupt: z.boolean(), message: z.string().max(4096) }),
]);
export type ReaderLine = z.infer<typeof ReaderLineSchema>;
