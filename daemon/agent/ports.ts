/** The guest's listening TCP ports, watched live (AgentClient.watchPorts). */
import { EventEmitter } from 'node:events';
import type { Channel, PortInfo } from '../protocol/index.js';

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

  constructor(
    private readonly channel: Channel,
    /** Listeners at the moment the watch started. */
    readonly initial: readonly PortInfo[],
  ) {
    super();
    for (const p of initial) this.current.set(key(p), p);
    channel.on('control', (message) => {
      if (message.type !== 'port') return;
      if (message.event === 'opened') this.current.set(key(message.port), message.port);
      else this.current.delete(key(message.port));
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
