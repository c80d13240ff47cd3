/** The event log: every state change and other notable things, append-only. */
import { and, asc, desc, eq, gt, gte, inArray, lt, max, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import type { EventType } from '../wire/events.js';
import type { DbLike } from './open.js';
import { events, sandboxes } from './schema.js';

/** A stored event. `id` grows monotonically: use it as a cursor. */
export type HobEvent = typeof events.$inferSelect;

/** A stored event with the name of its sandbox (null for daemon-wide events, and for sandboxes destroyed before names were kept). */
export type NamedEvent = HobEvent & { readonly sandboxName: string | null };

export interface NewEvent {
  /** The sandbox concerned, or null/undefined for daemon-wide events. */
  sandboxId?: string | null;
  /** Event type, one of wire/events.ts EVENT_TYPES. */
  type: EventType;
  /** JSON-serialisable details. Default {}. */
  data?: Record<string, unknown>;
}

/** Appends one event and returns it. `db` may be a transaction. */
export function appendEvent(db: DbLike, e: NewEvent): HobEvent {
  return db.insert(events).values({ sandboxId: e.sandboxId ?? null, type: e.type, data: e.data ?? {}, at: new Date() }).returning().get();
}

export interface ListEventsOptions {
  /** Only events of this sandbox. */
  sandboxId?: string;
  /** Only events of these sandboxes (an empty list matches nothing). */
  sandboxIds?: readonly string[];
  /** Only events of these types (an empty list matches nothing). */
  types?: readonly string[];
  /** Only events with an id greater than this (for polling/streaming). */
  afterId?: number;
  /** Only events with an id smaller than this (paging backwards). */
  beforeId?: number;
  /** Only events at or after this time. */
  since?: Date;
  /** At most this many. Default 1000. */
  limit?: number;
  /** 'asc' (default): oldest first; 'desc': newest first. */
  order?: 'asc' | 'desc';
}

/** Drops every event of one sandbox (a spare's: db/sandboxes.ts). `db` may be a transaction. */
export function deleteEventsOf(db: DbLike, sandboxId: string): void {
  db.delete(events).where(eq(events.sandboxId, sandboxId)).run();
}

/** A spare's events are never listed (docs/architecture.md §31); daemon-wide ones (no sandbox) are. */
const notOfSpares = sql`(${events.sandboxId} IS NULL OR ${events.sandboxId} NOT IN (SELECT ${sandboxes.id} FROM ${sandboxes} WHERE ${sandboxes.spare} = 1))`;

function whereOf(opts: ListEventsOptions) {
  return and(
    notOfSpares,
    opts.sandboxId !== undefined ? eq(events.sandboxId, opts.sandboxId) : undefined,
    opts.sandboxIds !== undefined ? inArray(events.sandboxId, [...opts.sandboxIds]) : undefined,
    opts.types !== undefined ? inArray(events.type, [...opts.types]) : undefined,
    opts.afterId !== undefined ? gt(events.id, opts.afterId) : undefined,
    opts.beforeId !== undefined ? lt(events.id, opts.beforeId) : undefined,
    opts.since !== undefined ? gte(events.at, opts.since) : undefined,
  );
}

/** Events in ascending id order (or descending with `order: 'desc'`). */
export function listEvents(db: DbLike, opts: ListEventsOptions = {}): HobEvent[] {
  return db.select().from(events).where(whereOf(opts)).orderBy(opts.order === 'desc' ? desc(events.id) : asc(events.id)).limit(opts.limit ?? 1000).all();
}

const deletedEvents = alias(events, 'deleted_events');

/**
 * Like listEvents, with each event's sandbox name: the sandbox's current name, or for a
 * destroyed sandbox the name its 'deleted' event recorded.
 */
export function listNamedEvents(db: DbLike, opts: ListEventsOptions = {}): NamedEvent[] {
  const recordedName = db
    .select({ name: sql<string>`json_extract(${deletedEvents.data}, '$.name')` })
    .from(deletedEvents)
    .where(and(eq(deletedEvents.sandboxId, events.sandboxId), eq(deletedEvents.type, 'deleted')))
    .orderBy(desc(deletedEvents.id))
    .limit(1);
  return db
    .select({
      id: events.id,
      sandboxId: events.sandboxId,
      type: events.type,
      data: events.data,
      at: events.at,
      sandboxName: sql<string | null>`coalesce(${sandboxes.name}, (${recordedName}))`,
    })
    .from(events)
    .leftJoin(sandboxes, eq(sandboxes.id, events.sandboxId))
    .where(whereOf(opts))
    .orderBy(opts.order === 'desc' ? desc(events.id) : asc(events.id))
    .limit(opts.limit ?? 1000)
    .all();
}

/** Ids of destroyed sandboxes whose 'deleted' event recorded this name. */
export function deletedSandboxIdsNamed(db: DbLike, name: string): string[] {
  return db
    .selectDistinct({ id: events.sandboxId })
    .from(events)
    .where(and(eq(events.type, 'deleted'), sql`json_extract(${events.data}, '$.name') = ${name}`))
    .all()
    .flatMap((r) => (r.id === null ? [] : [r.id]));
}

/** The id of the newest event, 0 when there is none. */
export function lastEventId(db: DbLike): number {
  return db.select({ id: max(events.id) }).from(events).get()?.id ?? 0;
}
