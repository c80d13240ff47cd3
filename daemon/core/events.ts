/**
 * The event log as the API sees it (`GET /v1/events`, `/v1/sandboxes/{name}/events`):
 * pages of past events and live follows (core/event-feed.ts), with sandboxes
 * named rather than identified. Events are written by the modules that cause
 * them (db/*, launcher, sleep, ...); this reads.
 */
import { deletedSandboxIdsNamed, getSandboxByName, listNamedEvents, type DbLike, type NamedEvent } from '../db/index.js';
import { NotFoundError } from '../errors.js';
import { EventFeed, type EventFeedOptions, type FeedEndReason } from './event-feed.js';

/** An event as the API shows it. */
export interface EventInfo {
  readonly id: number;
  /** ISO 8601. */
  readonly at: string;
  /** The sandbox's name (for a destroyed one, the name it had), null for daemon-wide events. */
  readonly sandbox: string | null;
  readonly sandboxId: string | null;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface EventFilter {
  /** A sandbox name. */
  readonly sandbox?: string;
  /**
   * 'current' (default): the sandbox of that name now (404 when none);
   * 'any': also destroyed sandboxes that had the name (404 when there was never one).
   */
  readonly scope?: 'current' | 'any';
  readonly types?: readonly string[];
  readonly since?: Date;
}

export interface EventPageQuery extends EventFilter {
  readonly afterId?: number;
  readonly beforeId?: number;
  /** 1 or more. */
  readonly limit: number;
  readonly order?: 'asc' | 'desc';
}

export interface EventPage {
  readonly events: EventInfo[];
  /** More events match beyond the limit. */
  readonly hasMore: boolean;
}

export interface EventStream {
  /** The next events, oldest first, waiting for them; null once the stream has ended. */
  next(): Promise<EventInfo[] | null>;
  close(): void;
  /** Aborted when the stream ends; `reason` 'overflow' when its reader fell too far behind. */
  readonly ended: AbortSignal;
}

export interface EventService {
  /** @throws NotFoundError for an unknown sandbox. */
  list(query: EventPageQuery): EventPage;
  /**
   * Follows the matching events after `afterId` (without it: from `since` when given,
   * else only new ones). @throws NotFoundError for an unknown sandbox, before anything streams.
   */
  follow(filter: EventFilter, afterId?: number): EventStream;
}

export class EventLog implements EventService {
  private readonly feed: EventFeed;

  constructor(private readonly db: DbLike, options: EventFeedOptions = {}) {
    this.feed = new EventFeed(db, options);
  }

  /** Open follows (for tests and the dashboard's overview). */
  get followers(): number {
    return this.feed.size;
  }

  list(query: EventPageQuery): EventPage {
    const sandboxIds = this.sandboxIds(query);
    const rows = listNamedEvents(this.db, {
      ...(sandboxIds ? { sandboxIds } : {}),
      ...(query.types ? { types: query.types } : {}),
      ...(query.since ? { since: query.since } : {}),
      ...(query.afterId !== undefined ? { afterId: query.afterId } : {}),
      ...(query.beforeId !== undefined ? { beforeId: query.beforeId } : {}),
      ...(query.order ? { order: query.order } : {}),
      limit: query.limit + 1,
    });
    return { events: rows.slice(0, query.limit).map(toEventInfo), hasMore: rows.length > query.limit };
  }

  follow(filter: EventFilter, afterId?: number): EventStream {
    const sandboxIds = this.sandboxIds(filter);
    // From `since` with no cursor: every matching event is after id 0.
    const from = afterId ?? (filter.since ? 0 : undefined);
    const sub = this.feed.subscribe(
      { ...(sandboxIds ? { sandboxIds } : {}), ...(filter.types ? { types: filter.types } : {}), ...(filter.since ? { since: filter.since } : {}) },
      from,
    );
    return {
      ended: sub.ended,
      close: () => sub.close(),
      next: async () => (await sub.next())?.map(toEventInfo) ?? null,
    };
  }

  /** Ends every follow (hobd stopping). */
  close(): void {
    this.feed.close();
  }

  private sandboxIds(filter: EventFilter): string[] | undefined {
    if (filter.sandbox === undefined) return undefined;
    const current = getSandboxByName(this.db, filter.sandbox);
    const ids = current ? [current.id] : [];
    if (filter.scope === 'any') ids.push(...deletedSandboxIdsNamed(this.db, filter.sandbox).filter((id) => id !== current?.id));
    if (ids.length === 0) throw new NotFoundError(filter.scope === 'any' ? `no sandbox was ever named "${filter.sandbox}"` : `no sandbox named "${filter.sandbox}"`);
    return ids;
  }
}

export type { FeedEndReason };

function toEventInfo(e: NamedEvent): EventInfo {
  return { id: e.id, at: e.at.toISOString(), sandbox: e.sandboxName, sandboxId: e.sandboxId, type: e.type, data: e.data };
}
