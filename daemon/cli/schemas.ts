/**
 * The API responses the CLI reads, validated with zod. Objects are loose:
 * `--json` prints what hobd sent, including fields this CLI does not know.
 * The shapes hobd sends are in daemon/wire/; this is how the CLI reads them.
 */
import { z } from 'zod';
import * as exec from '../wire/exec.js';
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

/** One entry of `GET .../exec` (wire/exec.ts); older hobd versions send only Sprites' fields. */
export const SessionListing = exec.SessionListing.partial({ attached: true, exited: true, exit_code: true, bytes_per_second: true, pid: true });
export type SessionListing = z.infer<typeof SessionListing>;
export const SessionList = exec.SessionList.extend({ sessions: z.array(SessionListing) });

/** Lines of the kill stream. */
export const KillLine = exec.KillLine.partial({ message: true, pid: true, time: true });

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

/** Text frames of the exec websocket; Sprites servers may send `session_id` as a number. */
export const SessionInfoFrame = exec.SessionInfoFrame.extend({ session_id: z.union([z.string(), z.number()]).transform(String) }).partial({
  command: true,
  created: true,
  cols: true,
  rows: true,
  is_owner: true,
  tty: true,
});
export const ExitFrame = exec.ExitFrame;
export type ExitFrame = exec.ExitFrame;
