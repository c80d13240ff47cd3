/**
 * Keep-awake holds taken or released inside the guest (`hob-keep-awake`),
 * watched live (AgentClient.watchKeepAwake; protocol `keep-awake.watch` in
 * daemon/protocol/messages.ts).
 */
import { EventEmitter } from 'node:events';
import type { Channel, KeepAwakeChange } from '../protocol/index.js';

export interface KeepAwakeWatcherEvents {
  /** A hold was taken (`seconds` from now) or released (null) in the guest. */
  change: [change: KeepAwakeChange];
  /** The watch ended: close() was called (error undefined) or the connection was lost. */
  close: [error: Error | undefined];
}

export class KeepAwakeWatcher extends EventEmitter<KeepAwakeWatcherEvents> {
  constructor(
    private readonly channel: Channel,
    /** The change made in the guest while no host watched, if any (not emitted as `change`). */
    readonly pending: KeepAwakeChange | null,
  ) {
    super();
    channel.on('control', (message) => {
      if (message.type === 'keep_awake') this.emit('change', { seconds: message.seconds });
    });
    channel.once('close', (error) => this.emit('close', error));
  }

  get isClosed(): boolean {
    return this.channel.isClosed;
  }

  close(): void {
    this.channel.close();
  }
}
