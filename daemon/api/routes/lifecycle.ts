/**
 * The Sprites lifecycle calls beyond CRUD (docs/architecture.md §20), mounted at
 * `/v1/sprites` and `/v1/sandboxes`:
 *
 * - `GET /{name}/check` → `{sprite_name, sprite_id, status, reason, checked_at, elapsed}`;
 *   never wakes the sandbox (core/health.ts).
 * - `POST /{name}/restart` → `{sprite_name, machine_id, message}`: stop, then a fresh
 *   boot (processes and memory state are gone; the disk stays).
 * - `POST /{name}/upgrade` → 501: a sandbox has no platform version to move to.
 */
import { Hono } from 'hono';
import { NotSupportedError } from '../../errors.js';
import type { SpriteCheck, SpriteRestart } from '../../wire/sprite-ops.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { nameParam } from './sandboxes.js';

export function lifecycleRoutes(deps: Pick<ApiDeps, 'sandboxes'>): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();

  router.get('/:name/check', async (c) => {
    const sandbox = deps.sandboxes.get(nameParam(c.req.param('name')));
    const health = await deps.sandboxes.check(sandbox.name);
    const body: SpriteCheck = {
      sprite_name: sandbox.name,
      sprite_id: sandbox.id,
      status: health.status,
      reason: health.reason,
      checked_at: health.checkedAt,
      elapsed: health.elapsedMs,
    };
    return c.json(body);
  });

  router.post('/:name/restart', async (c) => {
    const sandbox = await deps.sandboxes.restart(nameParam(c.req.param('name')));
    const body: SpriteRestart = { sprite_name: sandbox.name, machine_id: sandbox.id, message: `${sandbox.name} restarted: stopped and booted again` };
    return c.json(body);
  });

  router.post('/:name/upgrade', (c) => {
    const sandbox = deps.sandboxes.get(nameParam(c.req.param('name')));
    throw new NotSupportedError(
      `hob has no platform version to upgrade ${sandbox.name} to: its image was copied at create and is its own from then on; upgrade the software inside it (apt-get upgrade), or create a new sandbox from a rebuilt image (hob images build)`,
    );
  });

  return router;
}
