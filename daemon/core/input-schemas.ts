/**
 * What the manager accepts from callers (the API, the CLI through it): zod
 * schemas of its inputs and how a rejection reads. A bad request changes
 * nothing (docs/architecture.md §2): everything is checked before any work.
 */
import * as z from 'zod';
import type { SandboxExtraConfig } from '../db/index.js';
import { BadRequestError } from '../errors.js';
import { IdleOverrideSchema } from './idle.js';
import { ImageNameSchema, SandboxNameSchema } from './names.js';
import { AutoCheckpointSchema } from './row-config.js';
import type { UpdateSandboxInput } from './types.js';

const GiB = 1024 ** 3;

export const CreateInputSchema = z.object({
  name: SandboxNameSchema,
  image: z.optional(ImageNameSchema),
  cpus: z.number().int().min(1).max(64).optional(),
  memoryMiB: z.number().int().min(256).max(256 * 1024).optional(),
  diskBytes: z.number().int().min(1 * GiB).max(16 * 1024 * GiB).optional(),
  labels: z.array(z.string().min(1).max(63)).max(64).optional(),
  environment: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string().max(32 * 1024)).optional(),
  urlAuth: z.enum(['private', 'public']).optional(),
  from: z.object({ sandbox: SandboxNameSchema, checkpoint: z.string().min(1).max(64) }).optional(),
  /** Secrets to grant (docs/architecture.md §11): before the first boot, or to a fork once it runs. */
  secrets: z.array(z.object({ secret: z.string(), env: z.string().optional() })).max(64).optional(),
  /** Boot even when a warm template could serve the create. */
  cold: z.boolean().optional(),
});
export type CreateRequest = z.infer<typeof CreateInputSchema>;
/** A create's settings once its source is known (an image or a checkpoint). */
export type NewSandboxSettings = Omit<CreateRequest, 'from' | 'image'>;

export const CheckpointInputSchema = z.object({
  comment: z.string().max(1024, 'comment: at most 1024 characters').optional(),
  memory: z.boolean().optional(),
});

const GuestPathSchema = z.string().max(4096).startsWith('/', 'must be an absolute guest path').refine((p) => !p.includes('\0'), 'must not contain NUL');

/** One line naming every problem, each with the field it is about. */
export function formatZodError(error: z.core.$ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

/** An absolute guest path (for a diff). @throws BadRequestError */
export function parseGuestPath(path: string): string {
  const parsed = GuestPathSchema.safeParse(path);
  if (!parsed.success) throw new BadRequestError(`path: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

/**
 * The sandbox's extra config with an update's automatic-checkpoint and idle
 * settings applied (null turns one off); undefined if the update sets neither.
 * @throws BadRequestError for an invalid setting.
 */
export function configWithPatch(current: SandboxExtraConfig, patch: UpdateSandboxInput): SandboxExtraConfig | undefined {
  let config: SandboxExtraConfig | undefined;
  if (patch.autoCheckpoint !== undefined) {
    const { autoCheckpoint: _old, ...rest } = current;
    if (patch.autoCheckpoint === null) config = rest;
    else {
      const parsed = AutoCheckpointSchema.safeParse(patch.autoCheckpoint);
      if (!parsed.success) throw new BadRequestError(`autoCheckpoint: ${formatZodError(parsed.error)}`);
      config = { ...rest, autoCheckpoint: parsed.data };
    }
  }
  if (patch.idle !== undefined) {
    const { idle: _old, ...rest } = config ?? current;
    if (patch.idle === null) config = rest;
    else {
      const parsed = IdleOverrideSchema.safeParse(patch.idle);
      if (!parsed.success) throw new BadRequestError(`idle: ${formatZodError(parsed.error)}`);
      config = { ...rest, idle: parsed.data };
    }
  }
  return config;
}
