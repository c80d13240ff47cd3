/**
 * The sandbox object as the CLI reads it (the other API responses are in schemas.ts): on its
 * own so that `hob ls` and the commands that show a sandbox build only these schemas, in
 * zod/mini as the wire shapes they extend (docs/architecture.md §23). Objects are loose:
 * `--json` prints what hobd sent.
 */
import * as z from 'zod/mini';
import { SpriteList, SpriteObject } from '../wire/sprite.js';

/**
 * A sandbox as `GET /v1/sandboxes/{name}` returns it (wire/sprite.ts). Older
 * hobd versions do not send the sleep and checkpoint settings; the Sprites
 * fields the CLI does not show are not required.
 */
export const SandboxObject = z.partial(SpriteObject, {
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

export const SandboxList = z.partial(z.extend(SpriteList, { sprites: z.array(SandboxObject) }), { next_continuation_token: true });
