/**
 * The types of the ext4 image diff, owned by the ext4 reader (core re-exports
 * DiffEntry from here).
 */

/** Longest guest path reported or accepted (Linux PATH_MAX); a longer one in an image makes the reader fail. */
export const MAX_PATH_BYTES = 4096;

/** One changed path between two states of a guest filesystem (a type, not an interface: it goes out as JSON as it is, wire/checkpoints.ts). */
export type DiffEntry = {
  /** Absolute path inside the guest, e.g. "/root/notes.txt". */
  readonly path: string;
  readonly change: 'added' | 'modified' | 'deleted';
  /** Type in the newer state (for deletes: in the older one). */
  readonly type: 'file' | 'directory' | 'symlink' | 'other';
  /** Size in bytes in the older state; null for added paths. */
  readonly sizeBefore: number | null;
  /** Size in bytes in the newer state; null for deleted paths. */
  readonly sizeAfter: number | null;
};

/** What `diffExt4Images` returns: the first `maxEntries` changes by path, and whether there were more. */
export interface DiffResult {
  readonly entries: DiffEntry[];
  /** True when the diff had more than the returned entries (the walk stopped at the cap). */
  readonly truncated: boolean;
}
