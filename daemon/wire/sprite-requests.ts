/**
 * The sandbox requests of the API (Sprites shapes plus hob's extensions): create, update,
 * list, sleep, keep-awake. The sandbox object they answer with is in sprite.ts.
 */
import * as z from 'zod';
import { GrantSecretRequest } from './secrets.js';
import { ImageNameSchema, SandboxNameSchema } from '../core/names.js';
import { CheckpointSourceSchema } from './checkpoints.js';
import { EnvMap, QueryBool, QueryInt } from './request-primitives.js';

/** A label: printable text without commas (Sprites labels are free-form tags). */
const Label = z.string().min(1).max(128).regex(/^[^\x00-\x1f\x7f,]+$/, 'labels are printable text without commas');
const Labels = z.array(Label).max(64);

const UrlSettings = z.object({
  /** "sprite" (private: needs a token) or "public". */
  auth: z.enum(['sprite', 'public']).optional(),
  /** Sprites' org-level access; accepted and ignored (hob has one user). */
  private_access: z.string().max(32).optional(),
});

/** Longest idle time hobd accepts: 30 days. */
export const MAX_IDLE_SECONDS = 30 * 86_400;
/** An idle time in whole seconds: 0 turns the step off, at most 30 days (core/idle.ts). */
const IdleSeconds = z.number().int().min(0).max(MAX_IDLE_SECONDS);

/**
 * `idle` of `PUT /{name}` (hob extension): per-sandbox idle times. A key left out
 * follows hobd's configured default (docs/architecture.md §7: 30 s to paused, 30 min to hibernated).
 */
export const IdleBody = z.object({
  /** Running → paused (warm) after this many idle seconds; 0 = never. */
  pause_after_seconds: IdleSeconds.optional(),
  /** → hibernated (memory on disk, no VMM process) after this many idle seconds; 0 = never. */
  hibernate_after_seconds: IdleSeconds.optional(),
});

/** `auto_checkpoint` of `PUT /{name}` (hob extension): a checkpoint every `interval_minutes` while running. */
export const AutoCheckpointBody = z.object({
  /** 1 to 10080 (a week). */
  interval_minutes: z.number().int().min(1).max(10_080),
  /** Automatic checkpoints kept (the oldest are deleted beyond it), 1 to 100. */
  keep: z.number().int().min(1).max(100),
});

export const CreateSandboxBody = z.object({
  name: SandboxNameSchema,
  url_settings: UrlSettings.optional(),
  labels: Labels.optional(),
  config: z
    .object({
      ram_mb: z.number().int().min(128).max(1024 * 1024).optional(),
      cpus: z.number().int().min(1).max(256).optional(),
      storage_gb: z.number().int().min(1).max(64 * 1024).optional(),
      /** Accepted and ignored: hob has one region, this box. */
      region: z.string().max(64).optional(),
    })
    .optional(),
  environment: EnvMap.optional(),
  /** hob extension: the image to create from (default: the configured default image). */
  image: z.optional(ImageNameSchema),
  /**
   * hob extension: start from a checkpoint of another sandbox, `"SRC:vN"` (as `hob create NEW --from SRC:vN`).
   * Parsed into `{sandbox, checkpoint}`. Mutually exclusive with `image`.
   */
  from: CheckpointSourceSchema.optional(),
  /** hob extension: secrets to grant (docs/architecture.md §11); a fork inherits none but these. */
  secrets: z.array(GrantSecretRequest).max(64).optional(),
  /** hob extension: boot even when a warm template of the image could serve the create (`hob create --cold`). */
  cold: z.boolean().optional(),
}).refine((b) => b.image === undefined || b.from === undefined, { message: 'give image or from, not both', path: ['from'] });
export type CreateSandboxBody = z.infer<typeof CreateSandboxBody>;

export const UpdateSandboxBody = z.object({
  url_settings: UrlSettings.optional(),
  labels: Labels.optional(),
  /** Removes every label (Sprites' way to say "labels: []" through SDKs that drop empty arrays). */
  clear_labels: z.boolean().optional(),
  /** hob extension: automatic checkpoints while the sandbox runs; null turns them off. */
  auto_checkpoint: AutoCheckpointBody.nullable().optional(),
  /** hob extension: this sandbox's idle times (seconds, 0 = never); null (or `{}`) follows hobd's defaults. */
  idle: IdleBody.nullable().optional(),
});
export type UpdateSandboxBody = z.infer<typeof UpdateSandboxBody>;

/** Body of `POST .../sleep` (hob extension; an empty body is `{}`). */
export const SleepBody = z.object({
  /** Save the memory to disk and end the VMM process (cold sleep) instead of only pausing it (warm). */
  hibernate: z.boolean().optional(),
});

/** Longest keep-awake hold: a week (core/manager.ts refuses more). */
export const MAX_KEEP_AWAKE_SECONDS = 7 * 86_400;

/** Body of `POST .../keep-awake` (hob extension). */
export const KeepAwakeBody = z.object({
  /** How long from now the sandbox is held awake, in whole seconds (1 to a week). */
  seconds: z.number().int().min(1).max(MAX_KEEP_AWAKE_SECONDS),
});

export const ListSandboxesQuery = z.object({
  prefix: z.string().max(63).optional(),
  max_results: QueryInt(1, 50).default(50),
  continuation_token: z.string().max(256).optional(),
  /** Accepted and ignored (hob always returns full objects). */
  bulk_load: QueryBool.optional(),
});
