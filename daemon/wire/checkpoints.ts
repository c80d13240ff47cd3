/**
 * Checkpoints, restore and diff on the wire (daemon/api/routes/checkpoints.ts
 * serves them, the CLI reads them), then their requests: checkpoint
 * references, the checkpoint and fork bodies, the list and diff queries.
 */
import { posix } from 'node:path';
import * as z from 'zod';
import { SandboxNameSchema } from '../core/names.js';
import { AbsoluteGuestPath, QueryBool } from './request-primitives.js';

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

// ---------------------------------------------------------------- requests

/**
 * A checkpoint reference: the user-facing id "vN" (N from 1, at most 9 digits), or the
 * checkpoint's internal uid (db/ids.ts alphabet: a lowercase letter, then lowercase letters
 * or digits; 8 to 32 characters).
 */
export const CheckpointRefSchema = z
  .string()
  .regex(/^(v[1-9][0-9]{0,8}|[a-z][a-z0-9]{7,31})$/, 'must be a checkpoint id such as v3');

/** `"SRC:vN"`: checkpoint vN (or a uid) of sandbox SRC, parsed into `{sandbox, checkpoint}`. */
export const CheckpointSourceSchema = z
  .string()
  .max(128)
  .regex(/^[^:]+:[^:]+$/, 'must be SANDBOX:CHECKPOINT, e.g. dev:v3')
  .transform((v) => {
    const colon = v.indexOf(':');
    return { sandbox: v.slice(0, colon), checkpoint: v.slice(colon + 1) };
  })
  .pipe(z.object({ sandbox: SandboxNameSchema, checkpoint: CheckpointRefSchema }));

/** Body of `POST .../checkpoint` (an empty body is `{}`). */
export const CheckpointBody = z.object({
  /** Free text, at most 1024 characters. */
  comment: z
    .string()
    .max(1024)
    .refine((c) => !c.includes('\0'), 'must not contain NUL')
    .optional(),
  /** hob extension: also save the VM's memory (a live checkpoint); needs a running sandbox. */
  memory: z.boolean().optional(),
});

/** Query of `GET .../checkpoints`. */
export const ListCheckpointsQuery = z.object({
  /** Also list the automatic checkpoints (Sprites' name). */
  includeAuto: QueryBool.optional(),
  /** Same as includeAuto. */
  include_auto: QueryBool.optional(),
  /** Sprites' history filter: accepted and ignored (hob checkpoints have no history chain). */
  history: z.string().max(64).optional(),
});

/** Body of `POST .../fork`. */
export const ForkBody = z.object({
  /** Name of the new sandbox. */
  name: SandboxNameSchema,
  /** Checkpoint of the source to fork from; default: its current state. */
  from: CheckpointRefSchema.optional(),
});

/** An absolute guest path as the diff takes it, normalized (no `..`, no trailing slash). */
const DiffPath = AbsoluteGuestPath.transform((p) => posix.resolve('/', p));

/** Query of `GET .../diff`. */
export const DiffQuery = z
  .object({
    /** Older state: a checkpoint. */
    from: CheckpointRefSchema,
    /** Newer state: a checkpoint, or "current" (the default) for the sandbox's disk now. */
    to: z.union([z.literal('current'), CheckpointRefSchema]).optional(),
    /** Only paths at or under this one. */
    path: DiffPath.optional(),
    /** Instead of the list of changes: the unified text diff of this one file. */
    file: DiffPath.optional(),
  })
  .refine((q) => q.path === undefined || q.file === undefined, { message: 'give path or file, not both', path: ['file'] });
