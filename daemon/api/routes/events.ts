/**
 * The event log (hob extension; shapes in daemon/wire/events.ts):
 *
 * - `GET /v1/events?sandbox=&type=&after=&before=&since=&limit=&order=` → `{events, has_more}`;
 *   `sandbox` also matches destroyed sandboxes that had the name.
 * - `GET /v1/sandboxes/{name}/events?...` (and under /v1/sprites) → the same for one sandbox.
 * - Either with `follow=1` → server-sent events: the events after `after` (or
 *   `Last-Event-ID`, or from `since`; else only new ones), then each new one
 *   within a second, heartbeats every 15 s. A reader that falls too far behind is
 *   disconnected (it resumes from its last id); the stream ends when the client goes.
 *
 * Failures (before anything streams): 400 bad query (unknown type, bad cursor,
 * limit over 1000, bad since), 404 unknown sandbox.
 */
import { Hono } from 'hono';
import type { EventFilter, EventInfo, EventService } from '../../core/events.js';
import { DEFAULT_EVENTS_LIMIT, EventsQuery, EVENTS_QUERY_ARRAYS, SandboxEventsQuery, type EventObject } from '../../wire/events.js';
import { queryObject } from '../../wire/request-primitives.js';
import type { ApiContext, ApiEnv } from '../context.js';
import { sseStream } from '../sse.js';
import { parseInput } from '../validate.js';
import { nameParam } from './sandboxes.js';

export function toEventObject(e: EventInfo): EventObject {
  return { id: e.id, at: e.at, sandbox: e.sandbox, sandbox_id: e.sandboxId, type: e.type, data: { ...e.data } };
}

type Query = Omit<EventsQuery, 'sandbox'>;

function answer(c: ApiContext, events: EventService, filter: EventFilter, q: Query): Response {
  if (!q.follow) {
    const page = events.list({
      ...filter,
      ...(q.after !== undefined ? { afterId: q.after } : {}),
      ...(q.before !== undefined ? { beforeId: q.before } : {}),
      ...(q.order ? { order: q.order } : {}),
      limit: q.limit ?? DEFAULT_EVENTS_LIMIT,
    });
    return c.json({ events: page.events.map(toEventObject), has_more: page.hasMore });
  }
  const lastEventId = c.req.header('last-event-id');
  const resume = lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : undefined;
  const stream = events.follow(filter, resume ?? q.after);
  // A reader dropped for falling behind may be stuck with a full socket: hang up on it.
  stream.ended.addEventListener('abort', () => {
    if (stream.ended.reason === 'overflow') (c.env as Partial<ApiEnv['Bindings']> | undefined)?.outgoing?.destroy();
  });
  c.req.raw.signal.addEventListener('abort', () => stream.close(), { once: true });
  return sseStream(
    async (out) => {
      out.aborted.addEventListener('abort', () => stream.close(), { once: true });
      for (;;) {
        const batch = await stream.next();
        if (batch === null || out.aborted.aborted) break;
        for (const e of batch) out.send(toEventObject(e), e.id);
        await out.room();
      }
      stream.close();
    },
    { signal: stream.ended },
  );
}

/** `GET /v1/events`. */
export function eventRoutes(events: EventService): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/', (c) => {
    const { sandbox, ...q } = parseInput(EventsQuery, queryObject(new URL(c.req.url).searchParams, EVENTS_QUERY_ARRAYS), 'query');
    return answer(c, events, { ...(sandbox ? { sandbox, scope: 'any' as const } : {}), ...filterOf(q) }, q);
  });
  return router;
}

/** `GET /{name}/events`, mounted with the sandbox routes. */
export function sandboxEventRoutes(events: EventService): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/:name/events', (c) => {
    const name = nameParam(c.req.param('name'));
    const q = parseInput(SandboxEventsQuery, queryObject(new URL(c.req.url).searchParams, EVENTS_QUERY_ARRAYS), 'query');
    return answer(c, events, { sandbox: name, scope: 'current', ...filterOf(q) }, q);
  });
  return router;
}

function filterOf(q: Query): EventFilter {
  return { ...(q.type ? { types: q.type } : {}), ...(q.since ? { since: q.since } : {}) };
}
