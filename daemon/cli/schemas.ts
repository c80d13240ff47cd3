/**
 * The API responses the CLI reads, validated with zod. Objects are loose:
 * `--json` prints what hobd sent, including fields this CLI does not know.
 * The shapes are defined by daemon/api (sprite-object.ts, routes/*.ts).
 */
import { z } from 'zod';

/** A sandbox as `GET /v1/sandboxes/{name}` returns it (Sprites fields plus hob's). */
export const SandboxObject = z.looseObject({
  name: z.string(),
  status: z.string(),
  url: z.string(),
  url_settings: z.looseObject({ auth: z.string() }),
  labels: z.array(z.string()),
  environment: z.record(z.string(), z.string()),
  created_at: z.string(),
  state: z.string(),
  state_since: z.string(),
  cpus: z.number(),
  memory_mib: z.number(),
  disk_bytes: z.number(),
  image: z.string(),
  vmm: z.string(),
  last_error: z.string().nullable(),
  /** hob's sleep and checkpoint settings (optional: older hobd versions do not send them). */
  idle: z.looseObject({ pause_after_seconds: z.number().optional(), hibernate_after_seconds: z.number().optional() }).optional(),
  keep_awake_until: z.string().nullable().optional(),
  auto_checkpoint: z.looseObject({ interval_minutes: z.number(), keep: z.number() }).nullable().optional(),
  forked_from: z.looseObject({ sandbox: z.string(), checkpoint: z.string().nullable() }).nullable().optional(),
});
export type SandboxObject = z.infer<typeof SandboxObject>;

export const SandboxList = z.looseObject({
  sprites: z.array(SandboxObject),
  has_more: z.boolean(),
  next_continuation_token: z.string().nullable().optional(),
});

/** One entry of `GET .../exec`. */
export const SessionListing = z.looseObject({
  id: z.string(),
  command: z.string(),
  workdir: z.string(),
  created: z.string(),
  is_active: z.boolean(),
  last_activity: z.string(),
  tty: z.boolean(),
  attached: z.number().optional(),
  exited: z.boolean().optional(),
  exit_code: z.number().nullable().optional(),
});
export type SessionListing = z.infer<typeof SessionListing>;
export const SessionList = z.looseObject({ sessions: z.array(SessionListing) });

/** Lines of the kill stream. */
export const KillLine = z.looseObject({
  type: z.string(),
  message: z.string().optional(),
  exit_code: z.number().optional(),
});

export const TokenInfo = z.looseObject({
  id: z.string(),
  name: z.string(),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;
export const TokenList = z.looseObject({ tokens: z.array(TokenInfo) });
export const CreatedToken = TokenInfo.extend({ token: z.string() });

/** `PUT .../fs/write`. */
export const FsWriteResult = z.looseObject({ path: z.string(), size: z.number(), mode: z.string() });

/** `GET .../fs/list`. */
export const FsList = z.looseObject({
  path: z.string(),
  entries: z.array(z.looseObject({ name: z.string(), path: z.string(), type: z.string(), size: z.number(), isDir: z.boolean() })),
  count: z.number(),
});

/** An image (`GET /v1/images`). */
export const ImageObject = z.looseObject({
  name: z.string(),
  variant: z.string().nullable(),
  arch: z.string().nullable(),
  kernel: z.string().nullable(),
  built_at: z.string().nullable(),
  rootfs_bytes: z.number().nullable(),
});
export type ImageObject = z.infer<typeof ImageObject>;
export const ImageList = z.looseObject({ images: z.array(ImageObject) });

/** Text frames of the exec websocket. */
export const SessionInfoFrame = z.looseObject({
  type: z.literal('session_info'),
  session_id: z.union([z.string(), z.number()]).transform(String),
  command: z.string().optional(),
  tty: z.boolean().optional(),
  is_owner: z.boolean().optional(),
});
export const ExitFrame = z.looseObject({
  type: z.literal('exit'),
  exit_code: z.number().int(),
  signal: z.string().optional(),
  error: z.string().optional(),
});
export type ExitFrame = z.infer<typeof ExitFrame>;
