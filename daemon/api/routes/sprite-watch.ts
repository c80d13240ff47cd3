/**
 * `GET /` with `Accept: application/x-ndjson`: the SDKs' `watchSprites`
 * (docs/architecture.md §20). One `snapshot` line per sandbox (name order,
 * `prefix` applied), then `created`, `update` (status or state changed) and
 * `deleted` lines as the list changes (core/sandbox-watch.ts), each with the
 * counts by status. It runs until the client leaves. A plain `GET /` falls
 * through to the list (routes/sandboxes.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Hono } from 'hono';
import { HobError } from '../../errors.js';
import { listChanges, WATCH_INTERVAL_MS, WatcherSlots, type ListChangeKind } from '../../core/sandbox-watch.js';
import type { Sandbox } from '../../core/types.js';
import { queryObject } from '../../wire/request-primitives.js';
import { WatchSpritesQuery, type SpriteListEvent } from '../../wire/sprite-ops.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { ndjsonStream, wantsNdjson } from '../ndjson.js';
import { ORGANIZATION, spriteStatus } from '../sprite-object.js';
import { parseInput } from '../validate.js';
import { visible } from '../scope.js';

export function spriteWatchRoutes(deps: Pick<ApiDeps, 'sandboxes'>): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  const slots = new WatcherSlots();

  router.get('/', async (c, next) => {
    if (!wantsNdjson(c.req.header('accept'))) return next();
    const query = parseInput(WatchSpritesQuery, queryObject(new URL(c.req.url).searchParams), 'query');
    const release = slots.take();
    if (!release) throw new HobError('rate_limited', 'too many sandbox list watchers at once; close one and retry');
    const scope = c.get('scope');
    const read = (): Sandbox[] =>
      visible(scope, deps.sandboxes.list())
        .filter((s) => query.prefix === undefined || s.name.startsWith(query.prefix))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const event = (type: ListChangeKind, sandbox: Sandbox): SpriteListEvent => {
      const counts = { running: 0, warm: 0, cold: 0 };
      for (const s of visible(scope, deps.sandboxes.list())) counts[spriteStatus(s.state)]++;
      return {
        type,
        name: sandbox.name,
        status: type === 'deleted' ? '' : spriteStatus(sandbox.state),
        state: type === 'deleted' ? 'deleted' : sandbox.state,
        timestamp: new Date().toISOString(),
        org: { name: ORGANIZATION, ...counts },
      };
    };
    return ndjsonStream(
      async (out) => {
        try {
          let last = read();
          for (const sandbox of last) out.line(event('snapshot', sandbox));
          while (!out.aborted.aborted) {
            await sleep(WATCH_INTERVAL_MS, undefined, { signal: out.aborted }).catch(() => undefined);
            if (out.aborted.aborted) break;
            const now = read();
            for (const change of listChanges(new Map(last.map((s) => [s.name, s])), now)) out.line(event(change.type, change.sandbox));
            last = now;
            await out.room();
          }
        } finally {
          release();
        }
      },
      { signal: c.req.raw.signal },
    );
  });

  return router;
}
