/**
 * Keep-awake holds taken or released inside the guest (`hob-keep-awake`),
 * watched live (AgentClient.watchKeepAwake; protocol `keep-awake.watch` in
 * daemon/protocol/messages/keep-awake.ts).
 *
 * The guest is not trusted to send changes at a sane rate: past
 * KEEP_AWAKE_BURST changes, at most KEEP_AWAKE_RATE_PER_S a second are
 * accepted; a guest that sends more has its watch closed (`close` with an
 * AgentError). The agent connection itself stays up.
 */
import { EventEmitter } from 'node:events';
import { AgentError } from '../errors.js';
import type { Channel, KeepAwakeChange } from '../protocol/index.js';
import { TokenBucket } from './token-bucket.js';

/**
 * Changes accepted back to back. A person or a script running
 * `hob-keep-awake` sends a handful; 100 leaves room for a loop that takes and
 * releases a hold around each job.
 */
export const KEEP_AWAKE_BURST = 100;
/** Changes per second accepted after the burst: far more than any honest use (each is a hold for a second or more). */
export const KEEP_AWAKE_RATE_PER_S = 10;

export interface KeepAwakeWatcherEvents {
  /** A hold was taken (`seconds` from now) or released (null) in the guest. */
  change: [change: KeepAwakeChange];
  /** The watch ended: close() was called (error undefined), the connection was lost, or the guest flooded it (AgentError). */
  close: [error: Error | undefined];
}

export class KeepAwakeWatcher extends EventEmitter<KeepAwakeWatcherEvents> {
  private latestChange: KeepAwakeChange | null;
  private readonly bucket = new TokenBucket(KEEP_AWAKE_BURST, KEEP_AWAKE_RATE_PER_S);
  private flooded: AgentError | undefined;

  constructor(
    private readonly channel: Channel,
    /** The change made in the guest while no host watched, if any (not emitted as `change`). */
    readonly pending: KeepAwakeChange | null,
  ) {
    super();
    this.latestChange = pending;
    channel.on('control', (message) => {
      if (message.type !== 'keep_awake' || this.flooded) return;
      if (!this.bucket.take()) {
        this.flooded = new AgentError(`keep-awake.watch: the guest sent more than ${KEEP_AWAKE_BURST} changes at over ${KEEP_AWAKE_RATE_PER_S}/s; watch closed`);
        channel.close();
        return;
      }
      this.latestChange = { seconds: message.seconds };
      this.emit('change', this.latestChange);
    });
    channel.once('close', (error) => this.emit('close', this.flooded ?? error));
  }

  /**
   * The last change received (or `pending`), null if none: also those that
   * arrived before a `change` listener was attached (in the same read as the
   * `ready` answer).
   */
  get latest(): KeepAwakeChange | null {
    return this.latestChange;
  }

  /** Set when the watch was closed because the guest sent changes too fast. */
  get floodError(): AgentError | undefined {
    return this.flooded;
  }

  get isClosed(): boolean {
    return this.channel.isClosed;
  }

  close(): void {
    this.channel.close();
  }
}
