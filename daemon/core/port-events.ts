/**
 * Port events for exec websockets (the API sends them as `port_opened` /
 * `port_closed` text frames, wire/exec.ts, as Sprites does): one port watch per guest agent connection, shared by
 * every websocket of that sandbox, opened with the first subscriber and closed
 * with the last (the agent polls /proc/net/tcp for each watch).
 *
 * Events are per port number: a server listening on both 0.0.0.0:3000 and
 * [::]:3000 is one `port_opened`, sent when the first of its listeners
 * appears, and one `port_closed` when the last goes away. Ports that were
 * already listening when the watch started are not reported.
 *
 * The guest is hostile, so everything here is bounded per sandbox:
 * - at most MAX_PORT_EVENT_SOCKETS listening sockets are remembered (further
 *   ones are ignored, as if they did not exist);
 * - changes are coalesced: subscribers hear at most one event per port per
 *   PORT_EVENT_INTERVAL_MS, the net change since the last (a port opened and
 *   closed again in between is no event);
 * - the URL port (`urlPortOf`, a `service.list` in the guest) is looked up once
 *   for all subscribers, at most once per URL_PORT_CACHE_MS, never per event.
 *
 * Failure modes: an agent without the `ports.watch` capability (an old agent
 * in an old checkpoint), or a watch that cannot start or breaks, yields no
 * events; exec itself is never affected.
 */
import type { PortWatcher } from '../agent/ports.js';
import type { PortInfo } from '../protocol/index.js';
import type { GuestConnection } from './guest.js';

export interface PortEvent {
  readonly type: 'opened' | 'closed';
  readonly port: number;
  readonly address: string;
  /** The guest port the sandbox URL routes to at the time (from `urlPortOf`); undefined without one. */
  readonly urlPort: number | undefined;
}

export type PortListener = (event: PortEvent) => void;

export interface PortEventHubOptions {
  readonly onError?: (message: string) => void;
  /** The port the sandbox URL routes to, looked up (shared, rate-limited) for the events' `urlPort`. */
  readonly urlPortOf?: (agent: GuestConnection) => Promise<number | undefined>;
}

/**
 * Listening sockets remembered per sandbox. A guest runs a handful of servers,
 * each on one or two addresses; 256 leaves room for busy development VMs while
 * a guest reporting thousands of made-up listeners costs hobd only this much.
 */
export const MAX_PORT_EVENT_SOCKETS = 256;
/** Least time between two batches of events for one sandbox: bounds the frames a toggling port sends to each websocket. */
export const PORT_EVENT_INTERVAL_MS = 250;
/** How long a looked-up URL port is reused: one `service.list` per sandbox per this long, whatever the events and sockets. */
export const URL_PORT_CACHE_MS = 2000;
/** A URL port lookup that takes longer than this is given up on (the events go out without `url`). */
const URL_PORT_LOOKUP_TIMEOUT_MS = 5000;

const CAPABILITY = 'ports.watch';

interface Feed {
  readonly listeners: Set<PortListener>;
  /** Listening sockets per port number (MAX_PORT_EVENT_SOCKETS at most in all). */
  readonly byPort: Map<number, Map<string, PortInfo>>;
  sockets: number;
  /** Ports as last reported to the subscribers, with the address reported. */
  readonly reported: Map<number, string>;
  /** Ports changed since the last batch. */
  readonly dirty: Set<number>;
  lastFlushAt: number;
  timer: NodeJS.Timeout | undefined;
  /** Batches are delivered in order, each after its URL port lookup. */
  delivery: Promise<void>;
  urlPort: { value: number | undefined; at: number; pending: Promise<number | undefined> | undefined } | undefined;
  ignoredReported: boolean;
  watcher: PortWatcher | undefined;
  closed: boolean;
  /** Settles once the watch has started (its initial ports known) or failed. */
  readonly ready: Promise<void>;
  markReady: () => void;
}

const socketKey = (p: PortInfo): string => `${p.family}|${p.address}`;

export class PortEventHub {
  private readonly feeds = new Map<GuestConnection, Feed>();
  private readonly onError: (message: string) => void;

  constructor(private readonly options: PortEventHubOptions = {}) {
    this.onError = options.onError ?? (() => undefined);
  }

  /**
   * Calls `listener` for every port opened or closed in the guest behind
   * `agent` from now on. Returns the unsubscribe function (idempotent).
   */
  subscribe(agent: GuestConnection, listener: PortListener): () => void {
    if (!agent.supports(CAPABILITY) || agent.isClosed) return () => undefined;
    let feed = this.feeds.get(agent);
    if (!feed) {
      let markReady: () => void = () => undefined;
      const ready = new Promise<void>((resolve) => (markReady = resolve));
      feed = {
        ready,
        markReady,
        listeners: new Set(),
        byPort: new Map(),
        sockets: 0,
        reported: new Map(),
        dirty: new Set(),
        lastFlushAt: -Infinity,
        timer: undefined,
        delivery: Promise.resolve(),
        urlPort: undefined,
        ignoredReported: false,
        watcher: undefined,
        closed: false,
      };
      this.feeds.set(agent, feed);
      this.start(agent, feed);
    }
    feed.listeners.add(listener);
    const current = feed;
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0) this.stop(agent, current);
    };
  }

  /**
   * The ports listening now in the guest behind `agent`, one entry per port (the
   * first address seen), in port order, once its watch has started. Call it
   * while subscribed; [] when the sandbox is not watched or the watch failed.
   */
  async listening(agent: GuestConnection): Promise<Array<{ readonly port: number; readonly address: string }>> {
    const feed = this.feeds.get(agent);
    if (!feed) return [];
    await feed.ready;
    return [...feed.byPort]
      .map(([port, sockets]) => ({ port, address: (sockets.values().next().value as PortInfo).address }))
      .sort((a, b) => a.port - b.port);
  }

  /** What is remembered for `agent`'s sandbox (diagnostics and tests); undefined when it is not watched. */
  stats(agent: GuestConnection): { readonly ports: number; readonly sockets: number } | undefined {
    const feed = this.feeds.get(agent);
    return feed ? { ports: feed.byPort.size, sockets: feed.sockets } : undefined;
  }

  /** Closes every watch (API shutdown). */
  close(): void {
    for (const [agent, feed] of [...this.feeds]) this.stop(agent, feed);
  }

  private start(agent: GuestConnection, feed: Feed): void {
    agent.watchPorts().then(
      (watcher) => {
        if (feed.closed) {
          watcher.close();
          return;
        }
        feed.watcher = watcher;
        // Already listening: remembered (so their closing is known), not reported.
        for (const p of watcher.initial) {
          if (this.track(feed, 'opened', p)) feed.reported.set(p.port, p.address);
        }
        watcher.on('opened', (p) => this.changed(agent, feed, 'opened', p));
        watcher.on('closed', (p) => this.changed(agent, feed, 'closed', p));
        watcher.once('close', () => this.stop(agent, feed));
        feed.markReady();
      },
      (err: Error) => {
        this.onError(`port watch failed: ${err.message}`);
        this.stop(agent, feed);
      },
    );
  }

  private stop(agent: GuestConnection, feed: Feed): void {
    if (feed.closed) return;
    feed.closed = true;
    feed.markReady();
    if (feed.timer) clearTimeout(feed.timer);
    if (this.feeds.get(agent) === feed) this.feeds.delete(agent);
    feed.watcher?.close();
  }

  /** Records a socket; returns true when its port went from no listener to one (or back). */
  private track(feed: Feed, type: 'opened' | 'closed', p: PortInfo): boolean {
    let sockets = feed.byPort.get(p.port);
    if (type === 'opened') {
      if (sockets?.has(socketKey(p))) return false;
      if (feed.sockets >= MAX_PORT_EVENT_SOCKETS) {
        if (!feed.ignoredReported) this.onError(`the guest reports more than ${MAX_PORT_EVENT_SOCKETS} listening sockets: further ones are ignored`);
        feed.ignoredReported = true;
        return false;
      }
      if (!sockets) {
        sockets = new Map();
        feed.byPort.set(p.port, sockets);
      }
      sockets.set(socketKey(p), p);
      feed.sockets++;
      return sockets.size === 1;
    }
    if (!sockets || !sockets.delete(socketKey(p))) return false;
    feed.sockets--;
    if (sockets.size > 0) return false;
    feed.byPort.delete(p.port);
    return true;
  }

  private changed(agent: GuestConnection, feed: Feed, type: 'opened' | 'closed', p: PortInfo): void {
    if (!this.track(feed, type, p)) return;
    feed.dirty.add(p.port);
    if (feed.timer) return;
    const wait = feed.lastFlushAt + PORT_EVENT_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.flush(agent, feed);
      return;
    }
    feed.timer = setTimeout(() => {
      feed.timer = undefined;
      this.flush(agent, feed);
    }, wait);
    feed.timer.unref();
  }

  /** Turns the ports changed since the last batch into their net events, delivered after the URL port lookup. */
  private flush(agent: GuestConnection, feed: Feed): void {
    feed.lastFlushAt = Date.now();
    const batch: Array<Omit<PortEvent, 'urlPort'>> = [];
    for (const port of feed.dirty) {
      const sockets = feed.byPort.get(port);
      const reported = feed.reported.get(port);
      if (sockets && reported === undefined) {
        const address = (sockets.values().next().value as PortInfo).address;
        feed.reported.set(port, address);
        batch.push({ type: 'opened', port, address });
      } else if (!sockets && reported !== undefined) {
        feed.reported.delete(port);
        batch.push({ type: 'closed', port, address: reported });
      }
    }
    feed.dirty.clear();
    if (batch.length === 0) return;
    feed.delivery = feed.delivery
      .then(() => this.urlPort(agent, feed))
      .then((urlPort) => {
        if (feed.closed) return;
        for (const event of batch) this.deliver(feed, { ...event, urlPort });
      });
  }

  private deliver(feed: Feed, event: PortEvent): void {
    for (const listener of [...feed.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.onError(`port event listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** The URL port, looked up at most once per URL_PORT_CACHE_MS for the feed; never rejects. */
  private urlPort(agent: GuestConnection, feed: Feed): Promise<number | undefined> {
    const lookup = this.options.urlPortOf;
    if (!lookup) return Promise.resolve(undefined);
    const cached = feed.urlPort;
    if (cached?.pending) return cached.pending;
    if (cached && Date.now() - cached.at < URL_PORT_CACHE_MS) return Promise.resolve(cached.value);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), URL_PORT_LOOKUP_TIMEOUT_MS);
      timer.unref();
    });
    const pending = Promise.race([lookup(agent).catch(() => undefined), timeout]).then((value) => {
      clearTimeout(timer);
      feed.urlPort = { value, at: Date.now(), pending: undefined };
      return value;
    });
    feed.urlPort = { value: cached?.value, at: cached?.at ?? 0, pending };
    return pending;
  }
}
