/**
 * Port events for exec websockets (`port_opened` / `port_closed` text frames,
 * as Sprites sends them): one port watch per guest agent connection, shared by
 * every websocket of that sandbox, opened with the first subscriber and closed
 * with the last (the agent polls /proc/net/tcp for each watch).
 *
 * Events are per port number: a server listening on both 0.0.0.0:3000 and
 * [::]:3000 is one `port_opened`, sent when the first of its listeners
 * appears, and one `port_closed` when the last goes away. Ports that were
 * already listening when the watch started are not reported.
 *
 * Failure modes: an agent without the `ports.watch` capability (an old agent
 * in an old checkpoint), or a watch that cannot start or breaks, yields no
 * events; exec itself is never affected.
 */
import type { AgentClient } from '../agent/client.js';
import type { PortWatcher } from '../agent/ports.js';
import type { PortInfo } from '../protocol/index.js';

/** The JSON text frame sent on exec websockets. */
export interface PortEventMessage {
  readonly type: 'port_opened' | 'port_closed';
  /** The guest TCP port. */
  readonly port: number;
  /** The address the guest listens on, as its kernel reports it ("0.0.0.0", "::", "127.0.0.1"). */
  readonly address: string;
  /** hob: the sandbox URL, when it routes to this port (`http://<name>.localhost:<apiport>/`). */
  readonly url?: string;
}

export type PortListener = (event: { readonly type: 'opened' | 'closed'; readonly port: number; readonly address: string }) => void;

const CAPABILITY = 'ports.watch';

interface Feed {
  readonly listeners: Set<PortListener>;
  /** Listening sockets per port number. */
  readonly byPort: Map<number, Map<string, PortInfo>>;
  watcher: PortWatcher | undefined;
  closed: boolean;
}

const socketKey = (p: PortInfo): string => `${p.family}|${p.address}`;

export class PortEventHub {
  private readonly feeds = new Map<AgentClient, Feed>();

  constructor(private readonly onError: (message: string) => void = () => undefined) {}

  /**
   * Calls `listener` for every port opened or closed in the guest behind
   * `agent` from now on. Returns the unsubscribe function (idempotent).
   */
  subscribe(agent: AgentClient, listener: PortListener): () => void {
    if (!agent.supports(CAPABILITY) || agent.isClosed) return () => undefined;
    let feed = this.feeds.get(agent);
    if (!feed) {
      feed = { listeners: new Set(), byPort: new Map(), watcher: undefined, closed: false };
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

  /** Closes every watch (API shutdown). */
  close(): void {
    for (const [agent, feed] of [...this.feeds]) this.stop(agent, feed);
  }

  private start(agent: AgentClient, feed: Feed): void {
    agent.watchPorts().then(
      (watcher) => {
        if (feed.closed) {
          watcher.close();
          return;
        }
        feed.watcher = watcher;
        for (const p of watcher.initial) this.track(feed, 'opened', p);
        watcher.on('opened', (p) => this.changed(feed, 'opened', p));
        watcher.on('closed', (p) => this.changed(feed, 'closed', p));
        watcher.once('close', () => this.stop(agent, feed));
      },
      (err: Error) => {
        this.onError(`port watch failed: ${err.message}`);
        this.stop(agent, feed);
      },
    );
  }

  private stop(agent: AgentClient, feed: Feed): void {
    if (feed.closed) return;
    feed.closed = true;
    if (this.feeds.get(agent) === feed) this.feeds.delete(agent);
    feed.watcher?.close();
  }

  /** Records a socket; returns true when its port went from no listener to one (or back). */
  private track(feed: Feed, type: 'opened' | 'closed', p: PortInfo): boolean {
    let sockets = feed.byPort.get(p.port);
    if (type === 'opened') {
      if (!sockets) {
        sockets = new Map();
        feed.byPort.set(p.port, sockets);
      }
      const first = sockets.size === 0;
      sockets.set(socketKey(p), p);
      return first;
    }
    if (!sockets || !sockets.delete(socketKey(p))) return false;
    if (sockets.size > 0) return false;
    feed.byPort.delete(p.port);
    return true;
  }

  private changed(feed: Feed, type: 'opened' | 'closed', p: PortInfo): void {
    if (!this.track(feed, type, p)) return;
    for (const listener of [...feed.listeners]) {
      try {
        listener({ type, port: p.port, address: p.address });
      } catch (err) {
        this.onError(`port event listener failed: ${(err as Error).message}`);
      }
    }
  }
}
