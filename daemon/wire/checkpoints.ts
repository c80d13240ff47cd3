/**
 * Checkpoints, restore and diff on the wire (daemon/api/routes/checkpoints.ts
 * serves them, the CLI reads them).
 */
import { z } from 'zod';

/** A checkpoint: Sprites' fields first, then hob's. */
export const CheckpointObject = z.looseObject({
  /** "v1", "v2", ...; never reused within a sandbox. */
  id: z.string(),
  /** ISO 8601. */
  create_time: z.string(),
  comment: z.string(),
  /** Taken by hob itself (before a restore, or on a schedule). */
  is_auto: z.boolean(),
  // hob fields
  /** 'disk': filesystem only; 'live': filesystem and memory. */
  kind: z.string(),
  /** Bytes only this checkpoint holds (what deleting it frees); null when not measured yet. */
  size_bytes: z.number().nullable(),
});
export type CheckpointObject = z.infer<typeof CheckpointObject>;

/** Last line of the checkpoint stream. */
export const CheckpointComplete = z.looseObject({
  type: z.literal('complete'),
  /** "Checkpoint vN created". */
  data: z.string(),
  id: z.string(),
  checkpoint: CheckpointObject,
  /** ISO 8601. */
  time: z.string(),
});
export type CheckpointComplete = z.infer<typeof CheckpointComplete>;

/** Last line of the restore stream. */
export const RestoreComplete = z.looseObject({
  type: z.literal('complete'),
  /** "Restored to vN". */
  data: z.string(),
  /** ISO 8601. */
  time: z.string(),
});
export type RestoreComplete = z.infer<typeof RestoreComplete>;

/** One changed path (storage/ext4/types.ts DiffEntry as JSON). */
export const DiffEntryObject = z.looseObject({
  /** Absolute path inside the guest. */
  path: z.string(),
  /** added, modified, deleted. */
  change: z.string(),
  /** file, directory, symlink, other. */
  type: z.string(),
  sizeBefore: z.number().nullable(),
  sizeAfter: z.number().nullable(),
});
export type DiffEntryObject = z.infer<typeof DiffEntryObject>;

/** `GET .../diff`: the first entries by path; `truncated` when there were more. */
export const DiffResponse = z.looseObject({ from: z.string(), to: z.string(), entries: z.array(DiffEntryObject), truncated: z.boolean() });
export type DiffResponse = z.infer<typeof DiffResponse>;
