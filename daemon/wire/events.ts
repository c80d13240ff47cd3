/**
 * hob's event log on the wire (daemon/api/routes/events.ts serves it; the CLI
 * and the dashboard read it): one event shape, the list page, and the query
 * of `GET /v1/events` and `GET /v1/sandboxes/{name}/events`.
 *
 * With `follow=1` the answer is a `text/event-stream` (server-sent events):
 * each message has `id: <event id>` and `data: <EventObject as JSON>`, and
 * comment lines (`: heartbeat`) keep the connection alive. A reconnecting
 * EventSource sends `Last-Event-ID`, which counts as `after`.
 */
import * as z from 'zod';
import { SandboxNameSchema } from '../core/names.js';
import { parseDuration, QueryBool, QueryInt } from './request-primitives.js';

export const EventObject = z.looseObject({
  /** Grows with every event: the cursor (`after`, `before`). */
  id: z.number().int(),
  /** ISO 8601. */
  at: z.string(),
  /** Name of the sandbox concerned (a destroyed one's last name); null for daemon-wide events. */
  sandbox: z.string().nullable(),
  /** Id of the sandbox concerned; null for daemon-wide events. */
  sandbox_id: z.string().nullable(),
  /** One of EVENT_TYPES (newer hobd versions may add more). */
  type: z.string(),
  /** Details, by type: `state` {from, to, error?}; `checkpoint` {id, seq, kind}; `restore` {checkpoint, kind, saved, disk, changed_bytes?}; ... */
  data: z.record(z.string(), z.unknown()),
});
export type EventObject = z.infer<typeof EventObject>;

/** `GET /v1/events` without `follow`. */
export const EventList = z.looseObject({
  events: z.array(EventObject),
  /** More events match beyond `limit`: ask again with `after` (or `before` with order=desc) the last id. */
  has_more: z.boolean(),
});
export type EventList = z.infer<typeof EventList>;

/**
 * The event types hob writes. A module that writes a new type adds it here, so
 * that `type=` filters accept it (an unknown type is refused: a typo should not
 * silently show nothing).
 */
export const EVENT_TYPES = [
  /** A lifecycle state change: {from, to, error?}. */
  'state',
  /** The sandbox was destroyed: {name}. */
  'deleted',
  /** A checkpoint was taken: {id, seq, kind}. */
  'checkpoint',
  /** The sandbox was restored to a checkpoint: {checkpoint, kind, saved, disk ('in-place' with changed_bytes, or 'swapped')}. */
  'restore',
  /** The sandbox was made as a fork: {from, checkpoint}. */
  'fork',
  /** The idle policy put it to sleep: {to, idleSeconds}. */
  'idle',
  /** A wake failed: {error}. */
  'wake-failed',
  /** The VMM process exited on its own: {code, signal}. */
  'vmm-exit',
  /** The egress policy was replaced: {rules}. */
  'network-policy',
  /** A cold boot's steps, ms after the VMM started (wire/boot-timeline.ts BootTimelineObject; docs/architecture.md §24). */
  'boot-timeline',
  /** The sandbox was made: {image, from: 'image' | 'template', reseed?}. */
  'create',
  /** A warm template of an image was built, invalidated or removed (docs/architecture.md §17). */
  'template',
  /** A create could not use a warm template and booted instead: {reason}. */
  'template-fallback',
  /** The secret proxy put a secret's value into a request: {secret, host, method, path, status} (never the value; §11). */
  'secret-used',
  /** A placeholder was seen on its way to a host it is not for, and left as it was (§11). */
  'secret-blocked',
  /** The guest's agent cannot take the secrets configuration (an image older than secrets). */
  'secret-unsupported',
] as const;
/** One of EVENT_TYPES: what `appendEvent` accepts, so that a new type cannot be written without being listed. */
export type EventType = (typeof EVENT_TYPES)[number];

export const EventTypeSchema = z.string().refine((t) => (EVENT_TYPES as readonly string[]).includes(t), {
  message: `unknown event type (known: ${EVENT_TYPES.join(', ')})`,
});

/** Largest `limit`. */
export const MAX_EVENTS_LIMIT = 1000;
/** `limit` when none is given. */
export const DEFAULT_EVENTS_LIMIT = 100;
/** Furthest back `since` may reach as a duration: ten years. */
const MAX_SINCE_MS = 10 * 365 * 86_400_000;

/** An event id in a query string. */
const EventId = z
  .string()
  .regex(/^\d{1,15}$/, 'must be an event id (a non-negative integer)')
  .transform(Number);

/**
 * `since`: an ISO 8601 time (`2026-01-02T03:04:05Z`, `2026-01-02`) or a
 * duration back from now (`10m`, `1h30m`, `90s`). Becomes a Date.
 */
export const SinceSchema = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    const text = v.trim();
    if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
      const ms = Date.parse(text);
      if (Number.isFinite(ms)) return new Date(ms);
    } else if (/[a-zµ]$/.test(text)) {
      const ms = parseDuration(text);
      if (ms !== undefined && ms <= MAX_SINCE_MS) return new Date(Date.now() - ms);
    }
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 time (2026-01-02T15:04:05Z) or a duration back from now (10m, 1h30m)' });
    return z.NEVER;
  });

/** `type` repeated (`?type=a&type=b`) or a comma list (`?type=a,b`); at most 32. */
const TypesQuery = z
  .array(z.string().max(1024))
  .transform((values) => values.flatMap((v) => v.split(',')).map((t) => t.trim()).filter((t) => t !== ''))
  .pipe(z.array(EventTypeSchema).max(32, 'at most 32 types'));

const EventsQueryFields = z.object({
  /** A sandbox's name: it and destroyed sandboxes that had the name (per-sandbox route: that sandbox only). */
  sandbox: z.optional(SandboxNameSchema),
  type: TypesQuery.optional(),
  /** Events with a larger id. */
  after: EventId.optional(),
  /** Events with a smaller id (paging back with order=desc). */
  before: EventId.optional(),
  since: SinceSchema.optional(),
  limit: QueryInt(1, MAX_EVENTS_LIMIT).optional(),
  /** asc (default): oldest first; desc: newest first. */
  order: z.enum(['asc', 'desc']).optional(),
  /** Stream: the events after `after` (or from `since`; else only new ones), then each new one as it happens. */
  follow: QueryBool.optional(),
});

const followRules = (q: z.infer<typeof EventsQueryFields>, ctx: z.RefinementCtx): void => {
  if (!q.follow) return;
  if (q.order === 'desc') ctx.addIssue({ code: 'custom', path: ['order'], message: 'follow streams oldest first: order=desc does not apply' });
  if (q.before !== undefined) ctx.addIssue({ code: 'custom', path: ['before'], message: 'follow streams new events: before does not apply' });
};

/** Query keys given as lists (queryObject's `arrays`). */
export const EVENTS_QUERY_ARRAYS = ['type'] as const;

/** `GET /v1/events`. */
export const EventsQuery = EventsQueryFields.superRefine(followRules);
export type EventsQuery = z.infer<typeof EventsQuery>;

/** `GET /v1/sandboxes/{name}/events`: the sandbox is in the path. */
export const SandboxEventsQuery = EventsQueryFields.omit({ sandbox: true }).superRefine(followRules);
export type SandboxEventsQuery = z.infer<typeof SandboxEventsQuery>;
