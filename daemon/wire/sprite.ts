/**
 * The Sprite object: how a hob sandbox looks through the API, in the shape the
 * Sprites SDKs decode (Go `SpriteInfo`, JS `spriteFromAPI`), plus hob's own
 * fields (daemon/api/sprite-object.ts builds it, the CLI reads it).
 *
 * Key order is the order the CLI's `--json` prints parsed objects in (zod puts
 * known keys first, in this order, then the rest as sent): keep it. hobd sends
 * Sprites' fields first (id, name, organization, ...).
 *
 * Then the sandbox requests: create, update, list, sleep, keep-awake.
 */
import * as z from 'zod';
import { BootTimelineObject } from './boot-timeline.js';
import { GrantSecretRequest } from './secrets.js';
import { ImageNameSchema, SandboxNameSchema } from '../core/names.js';
import { CheckpointSourceSchema } from './checkpoints.js';
import { EnvMap, QueryBool, QueryInt } from './request-primitives.js';

export const SpriteObject = z.looseObject({
  name: z.string(),
  /** Sprites' status: cold, warm or running. */
  status: z.string(),
  /** `http://<name>.localhost:<port>/`. */
  url: z.string(),
  /** `sprite` (private: a token is needed) or `public`. */
  url_settings: z.looseObject({ auth: z.string() }),
  labels: z.array(z.string()),
  environment: z.record(z.string(), z.string()),
  created_at: z.string(),
  // hob fields
  /** hob's lifecycle state (docs/architecture.md §7). */
  state: z.string(),
  state_since: z.string(),
  cpus: z.number(),
  memory_mib: z.number(),
  disk_bytes: z.number(),
  image: z.string(),
  vmm: z.string(),
  last_error: z.string().nullable(),
  /**
   * This sandbox's own idle times in seconds (0 = never); a key that is absent
   * follows hobd's configured default. `{}` when it has none.
   */
  idle: z.looseObject({ pause_after_seconds: z.number().optional(), hibernate_after_seconds: z.number().optional() }),
  /** ISO 8601 end of a keep-awake hold (`POST .../keep-awake`), or null. */
  keep_awake_until: z.string().nullable(),
  /** Automatic checkpoints while running; null when off. */
  auto_checkpoint: z.looseObject({ interval_minutes: z.number(), keep: z.number() }).nullable(),
  /** Where a fork came from (checkpoint null: the source's state at the time); null for a sandbox made from an image. */
  forked_from: z.looseObject({ sandbox: z.string(), checkpoint: z.string().nullable() }).nullable(),
  /** Its last cold boot, step by step (docs/architecture.md §24); only in a single sandbox's info, absent before the first boot is recorded. */
  boot_timeline: BootTimelineObject.optional(),
  // Sprites fields the CLI does not show
  id: z.string(),
  /** Always "local": hob has no organizations. */
  organization: z.string(),
  /** Sizes in Sprites units; integers (sprites-go decodes them into ints). */
  config: z.looseObject({ ram_mb: z.number(), cpus: z.number(), storage_gb: z.number() }),
  updated_at: z.string(),
});
export type SpriteObject = z.infer<typeof SpriteObject>;

/** `GET /v1/sandboxes`: a page of sandboxes (plus counts by status, not listed here). */
export const SpriteList = z.looseObject({
  sprites: z.array(SpriteObject),
  has_more: z.boolean(),
  next_continuation_token: z.string().nullable(),
});
export type SpriteList = z.infer<typeof SpriteList>;

// ---------------------------------------------------------------- requests

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
  image: ImageNameSchema.optional(),
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
