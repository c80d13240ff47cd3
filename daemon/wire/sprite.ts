/**
 * The Sprite object: how a hob sandbox looks through the API, in the shape the
 * Sprites SDKs decode (Go `SpriteInfo`, JS `spriteFromAPI`), plus hob's own
 * fields (daemon/api/sprite-object.ts builds it, the CLI reads it).
 *
 * Key order is the order the CLI's `--json` prints parsed objects in (zod puts
 * known keys first, in this order, then the rest as sent): keep it. hobd sends
 * Sprites' fields first (id, name, organization, ...).
 *
 * The requests (create, update, list, sleep, keep-awake) are in sprite-requests.ts: the CLI
 * reads sandboxes on every `hob ls` and need not build them.
 */
/**
 * zod/mini (functions instead of methods: `z.optional(x)`, not `x.optional()`): the CLI loads
 * this module on every `hob ls`, and mini builds its schemas at a fraction of classic's start-up
 * cost; classic schemas take mini ones as they are (docs/architecture.md §23).
 */
import * as z from 'zod/mini';
import { BootTimelineObject } from './boot-timeline.js';

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
  last_error: z.nullable(z.string()),
  /**
   * This sandbox's own idle times in seconds (0 = never); a key that is absent
   * follows hobd's configured default. `{}` when it has none.
   */
  idle: z.looseObject({ pause_after_seconds: z.optional(z.number()), hibernate_after_seconds: z.optional(z.number()) }),
  /** ISO 8601 end of a keep-awake hold (`POST .../keep-awake`), or null. */
  keep_awake_until: z.nullable(z.string()),
  /** Automatic checkpoints while running; null when off. */
  auto_checkpoint: z.nullable(z.looseObject({ interval_minutes: z.number(), keep: z.number() })),
  /** Where a fork came from (checkpoint null: the source's state at the time); null for a sandbox made from an image. */
  forked_from: z.nullable(z.looseObject({ sandbox: z.string(), checkpoint: z.nullable(z.string()) })),
  /** Its last cold boot, step by step (docs/architecture.md §24); only in a single sandbox's info, absent before the first boot is recorded. */
  boot_timeline: z.optional(BootTimelineObject),
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
  next_continuation_token: z.nullable(z.string()),
});
export type SpriteList = z.infer<typeof SpriteList>;
