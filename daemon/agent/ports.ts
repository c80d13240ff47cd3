/**
 * The guest's listening TCP ports, watched live (AgentClient.watchPorts).
 *
 * What the guest reports is remembered up to MAX_WATCHED_SOCKETS listening
 * sockets; a guest reporting more (made-up addresses) has the extra ones
 * ignored: not remembered, no `opened`, and no `closed` for a socket that was
 * not remembered.
 */
import { EventEmitter } from 'node:events';
import type { Channel, PortInfo } from '../protocol/index.js';

/**
 * Listening sockets a watch remembers. Honest guests have a handful; this
 * bounds what a guest inventing listeners costs the host (about 100 bytes each).
 */
export const MAX_WATCHED_SOCKETS = 1024;

export interface PortWatcherEvents {
  /** A listener appeared in the guest. */
  opened: [port: PortInfo];
  /** A listener went away. */
  closed: [port: PortInfo];
  /** The watch ended: close() was called (error undefined) or the connection was lost. */
  close: [error: Error | undefined];
}

const key = (p: PortInfo): string => `${p.family}|${p.address}|${p.port}`;

export class PortWatcher extends EventEmitter<PortWatcherEvents> {
  private readonly current = new Map<string, PortInfo>();
  /** Listeners at the moment the watch started (at most MAX_WATCHED_SOCKETS). */
  readonly initial: readonly PortInfo[];

  constructor(
    private readonly channel: Channel,
    initial: readonly PortInfo[],
  ) {
    super();
    for (const p of initial) if (this.current.size < MAX_WATCHED_SOCKETS) this.current.set(key(p), p);
    this.initial = [...this.current.values()];
    channel.on('control', (message) => {
      if (message.type !== 'port') return;
      const k = key(message.port);
      if (message.event === 'opened') {
        if (this.current.has(k) || this.current.size >= MAX_WATCHED_SOCKETS) return;
        this.current.set(k, message.port);
      } else if (!this.current.delete(k)) {
        return;
      }
      this.emit(message.event, message.port);
    });
    channel.once('close', (error) => this.emit('close', error));
  }

  /** Listeners as of the last event. */
  get ports(): PortInfo[] {
    return [...this.current.values()];
  }

  close(): void {
    this.channel.close();
  }
}
