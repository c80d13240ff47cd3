/** The event log: every state change and other notable things, append-only. */
import { and, asc, eq, gt } from 'drizzle-orm';
import type { DbLike } from './open.js';
import { events } from './schema.js';

/** A stored event. `id` grows monotonically: use it as a cursor. */
export type HobEvent = typeof events.$inferSelect;

export interface NewEvent {
  /** The sandbox concerned, or null/undefined for daemon-wide events. */
  sandboxId?: string | null;
  /** Event type, e.g. 'state'. */
  type: string;
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
  /** Only events with an id greater than this (for polling/streaming). */
  afterId?: number;
  /** At most this many, oldest first. Default 1000. */
  limit?: number;
}

/** Events in ascending id order. */
export function listEvents(db: DbLike, opts: ListEventsOptions = {}): HobEvent[] {
  const where = and(
    opts.sandboxId !== undefined ? eq(events.sandboxId, opts.sandboxId) : undefined,
    opts.afterId !== undefined ? gt(events.id, opts.afterId) : undefined,
  );
  return db.select().from(events).where(where).orderBy(asc(events.id)).limit(opts.limit ?? 1000).all();
}
