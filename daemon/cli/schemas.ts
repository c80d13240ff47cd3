/**
 * The API responses the CLI reads, validated with zod. Objects are loose:
 * `--json` prints what hobd sent, including fields this CLI does not know.
 * The shapes hobd sends are in daemon/wire/; this is how the CLI reads them.
 */
import { z } from 'zod';
import * as images from '../wire/images.js';
import { SpriteList, SpriteObject } from '../wire/sprite.js';

/**
 * A sandbox as `GET /v1/sandboxes/{name}` returns it (wire/sprite.ts). Older
 * hobd versions do not send the sleep and checkpoint settings; the Sprites
 * fields the CLI does not show are not required.
 */
export const SandboxObject = SpriteObject.partial({
  idle: true,
  keep_awake_until: true,
  auto_checkpoint: true,
  forked_from: true,
  id: true,
  organization: true,
  config: true,
  updated_at: true,
});
export type SandboxObject = z.infer<typeof SandboxObject>;

export const SandboxList = SpriteList.extend({ sprites: z.array(SandboxObject) }).partial({ next_continuation_token: true });

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

/** An image (`GET /v1/images`, wire/images.ts); `inputs_hash` is absent from older hobd versions. */
export const ImageObject = images.ImageObject.partial({ inputs_hash: true });
export type ImageObject = z.infer<typeof ImageObject>;
export const ImageList = images.ImageList.extend({ images: z.array(ImageObject) });
/** Last line of the build stream. */
export const ImageBuildComplete = images.ImageBuildComplete.extend({ image: ImageObject }).partial({ data: true, time: true });

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
