/**
 * The live event feed: every follower of the event log (`?follow=1`, the
 * dashboard, `hob events -f`) is served by ONE poll of the database.
 *
 * Why a poll and not a notification after commit: events are appended by many
 * modules, inside their own transactions (db/sandboxes.ts, db/checkpoints.ts,
 * launcher, sleep, ...), and only the database knows when one committed; a
 * hook in each would be easy to forget and would fire for rolled-back ones.
 * One indexed `id > head` query every `pollMs` (250 ms by default), only
 * while someone follows, sees every committed event whoever wrote it, in id
 * order, within the second the API promises.
 *
 * Each subscription has its own bounded queue: a subscriber that falls more
 * than `maxQueued` events behind (its client stopped reading) is dropped, not
 * buffered for ever. Dropping loses nothing for a client that resumes from its
 * last id (EventSource does, with Last-Event-ID): the database is the buffer.
 * A subscription that starts from an older cursor first pages through the
 * database itself, then takes the live events.
 */
import { lastEventId, listNamedEvents, type DbLike, type ListEventsOptions, type NamedEvent } from '../db/index.js';

/** Which events a subscription wants; the same filter runs in SQL (backlog) and in memory (live). */
export interface FeedFilter {
  readonly sandboxIds?: readonly string[];
  readonly types?: readonly string[];
  readonly since?: Date;
}

export type FeedEndReason = 'closed' | 'overflow';

export interface FeedSubscription {
  /**
   * The next events (oldest first), waiting until there are some; null once the
   * subscription has ended. One caller at a time.
   */
  next(): Promise<NamedEvent[] | null>;
  /** Ends the subscription (idempotent). */
  close(): void;
  /** Aborted when the subscription ends; `reason` is a FeedEndReason. */
  readonly ended: AbortSignal;
}

export interface EventFeedOptions {
  readonly pollMs?: number;
  /** Live events a subscriber may fall behind by before it is dropped. */
  readonly maxQueued?: number;
  /** Events read per query (poll and backlog pages). */
  readonly pageSize?: number;
}

export const DEFAULT_FEED_POLL_MS = 250;
export const DEFAULT_FEED_MAX_QUEUED = 1000;

export class EventFeed {
  private readonly subscribers = new Set<Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  /** Id of the newest event the poll has seen. */
  private head = 0;
  private readonly pollMs: number;
  private readonly maxQueued: number;
  private readonly pageSize: number;

  constructor(private readonly db: DbLike, options: EventFeedOptions = {}) {
    this.pollMs = options.pollMs ?? DEFAULT_FEED_POLL_MS;
    this.maxQueued = options.maxQueued ?? DEFAULT_FEED_MAX_QUEUED;
    this.pageSize = options.pageSize ?? 500;
  }

  /** How many subscriptions are open. */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * Follows the events matching `filter` with an id above `afterId`; without
   * `afterId`, only events from now on.
   */
  subscribe(filter: FeedFilter, afterId?: number): FeedSubscription {
    if (!this.timer) {
      this.head = lastEventId(this.db);
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.timer.unref();
    }
    const sub = new Subscriber(this.db, filter, afterId ?? this.head, this.head, this.maxQueued, this.pageSize, () => this.remove(sub));
    this.subscribers.add(sub);
    return sub;
  }

  /** Ends every subscription and stops polling (hobd shutting down). */
  close(): void {
    for (const sub of [...this.subscribers]) sub.end('closed');
    this.stop();
  }

  private remove(sub: Subscriber): void {
    this.subscribers.delete(sub);
    if (this.subscribers.size === 0) this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private poll(): void {
    for (;;) {
      let page: NamedEvent[];
      try {
        page = listNamedEvents(this.db, { afterId: this.head, limit: this.pageSize });
      } catch {
        return; // the database is closing (shutdown); the next tick tries again
      }
      for (const event of page) {
        this.head = event.id;
        for (const sub of [...this.subscribers]) sub.offer(event);
      }
      if (page.length < this.pageSize || this.subscribers.size === 0) return;
    }
  }
}

class Subscriber implements FeedSubscription {
  private readonly controller = new AbortController();
  readonly ended = this.controller.signal;
  private queue: NamedEvent[] = [];
  private wake: (() => void) | undefined;

  /**
   * @param cursor id of the last event handed out
   * @param backlogUntil newest id at subscription time: events up to it come from the database, later ones from the poll
   */
  constructor(
    private readonly db: DbLike,
    private readonly filter: FeedFilter,
    private cursor: number,
    private readonly backlogUntil: number,
    private readonly maxQueued: number,
    private readonly pageSize: number,
    private readonly onEnd: () => void,
  ) {}

  offer(event: NamedEvent): void {
    if (this.ended.aborted || event.id <= this.backlogUntil || !this.matches(event)) return;
    if (this.queue.length >= this.maxQueued) {
      this.end('overflow');
      return;
    }
    this.queue.push(event);
    this.wake?.();
  }

  async next(): Promise<NamedEvent[] | null> {
    for (;;) {
      if (this.ended.aborted) return null;
      if (this.cursor < this.backlogUntil) {
        const query: ListEventsOptions = { ...this.sqlFilter(), afterId: this.cursor, beforeId: this.backlogUntil + 1, limit: this.pageSize };
        const page = listNamedEvents(this.db, query);
        this.cursor = page.at(-1)?.id ?? this.backlogUntil;
        if (page.length > 0) return page;
        continue;
      }
      const fresh = this.queue.filter((e) => e.id > this.cursor);
      this.queue = [];
      if (fresh.length > 0) {
        this.cursor = fresh.at(-1)?.id ?? this.cursor;
        return fresh;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        if (this.ended.aborted) resolve();
      });
      this.wake = undefined;
    }
  }

  close(): void {
    this.end('closed');
  }

  end(reason: FeedEndReason): void {
    if (this.ended.aborted) return;
    this.queue = [];
    this.controller.abort(reason);
    this.wake?.();
    this.onEnd();
  }

  private matches(event: NamedEvent): boolean {
    const f = this.filter;
    if (f.sandboxIds && (event.sandboxId === null || !f.sandboxIds.includes(event.sandboxId))) return false;
    if (f.types && !f.types.includes(event.type)) return false;
    if (f.since && event.at < f.since) return false;
    return true;
  }

  private sqlFilter(): ListEventsOptions {
    const f = this.filter;
    return { ...(f.sandboxIds ? { sandboxIds: f.sandboxIds } : {}), ...(f.types ? { types: f.types } : {}), ...(f.since ? { since: f.since } : {}) };
  }
}
