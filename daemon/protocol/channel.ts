/**
 * One channel of a Mux connection (mux.ts): control messages plus up to three
 * byte streams each way, with per-channel flow control.
 *
 * Flow control: each channel has, per direction, a byte credit that starts at
 * INITIAL_WINDOW. DATA frames consume the sender's credit; the receiver grants
 * credit back with WINDOW frames as its consumer reads (coalesced: one WINDOW
 * per GRANT_THRESHOLD bytes consumed, not one per DATA frame). A slow reader of
 * one channel therefore never stalls the others, and no side buffers more than
 * INITIAL_WINDOW bytes per channel (plus each stream Readable's highWaterMark)
 * that its consumer has not asked for. A peer that sends beyond its credit
 * fails the whole connection (ChannelConnection.fail).
 */
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { encodeFrame, FrameKind, MAX_DATA_CHUNK, ProtocolError, type StreamId } from './frame.js';
import type { ChannelMessage } from './messages.js';

export const INITIAL_WINDOW = 1024 * 1024;

/**
 * Consumed bytes a receiver collects before it sends a WINDOW frame. Well below
 * INITIAL_WINDOW, so the sender never runs out of credit while we read (it can
 * stall only when ungranted bytes reach the window, and then a grant is due),
 * and large enough that a flood of tiny DATA frames costs one 16-byte WINDOW
 * frame per 64 KiB instead of one per frame.
 */
export const GRANT_THRESHOLD = MAX_DATA_CHUNK;

/**
 * What a channel needs of the connection it lives on. Mux implements it; the
 * channel never sees the Mux itself, so that neither file imports the other's
 * class.
 */
export interface ChannelConnection {
  readonly isClosed: boolean;
  /** Writes a frame; dropped once the connection is closed. */
  writeFrame(frame: Buffer): boolean;
  /** Writes a DATA frame and waits until the stream can take more. */
  writeDataFrame(frame: Buffer): Promise<void>;
  /** Drops the connection because the peer broke the protocol. */
  fail(error: ProtocolError): void;
  /** The channel ended: its id may be reused. */
  forget(id: number): void;
}

export interface ChannelEvents {
  control: [message: ChannelMessage];
  /** The channel ended; `error` is set when it ended because the connection did. */
  close: [error: Error | undefined];
}

/** One logical conversation on the connection: control messages plus up to three byte streams each way. */
export class Channel extends EventEmitter<ChannelEvents> {
  private sendCredit = INITIAL_WINDOW;
  /** Bytes the peer may still send us: INITIAL_WINDOW minus what it sent plus what we granted. */
  private receiveCredit = INITIAL_WINDOW;
  /** Consumed bytes not yet granted back (sent once they reach GRANT_THRESHOLD). */
  private pendingGrant = 0;
  private creditWaiters: Array<() => void> = [];
  private readonly readables = new Map<number, IncomingStream>();
  private readonly writables = new Map<number, Writable>();
  private sentClose = false;
  private receivedClose = false;
  private closeError: Error | undefined;

  constructor(
    private readonly mux: ChannelConnection,
    readonly id: number,
  ) {
    super();
  }

  get isClosed(): boolean {
    return this.sentClose || this.receivedClose;
  }

  send(message: ChannelMessage): void {
    if (this.isClosed) return;
    this.mux.writeFrame(encodeFrame(FrameKind.Control, this.id, Buffer.from(JSON.stringify(message))));
  }

  /** Incoming bytes of one stream. Whoever opens a channel must consume (or resume()) every stream the peer sends. */
  readable(stream: StreamId): Readable {
    return this.incoming(stream).readable;
  }

  /**
   * Whether the peer sent EOF on this stream. A Readable also ends when the channel
   * closes without an EOF (the peer abandoned it); this tells the two apart, e.g. a
   * complete upload from an interrupted one.
   */
  receivedEof(stream: StreamId): boolean {
    return this.readables.get(stream)?.eofReceived ?? false;
  }

  /** Outgoing bytes of one stream; end() sends EOF. Writes wait for the peer's credit. */
  writable(stream: StreamId): Writable {
    let writable = this.writables.get(stream);
    if (!writable) {
      writable = new Writable({
        highWaterMark: MAX_DATA_CHUNK,
        write: (chunk: Buffer, _encoding, callback) => {
          this.sendData(stream, chunk).then(() => callback(), (err: Error) => callback(err));
        },
        final: (callback) => {
          this.sendEof(stream);
          callback();
        },
      });
      this.writables.set(stream, writable);
    }
    return writable;
  }

  /** Sends bytes on a stream, honouring flow control. Rejects if the channel closes first. */
  async sendData(stream: StreamId, data: Buffer): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      if (this.isClosed) throw this.closeError ?? new ProtocolError('channel closed');
      if (this.sendCredit === 0) {
        await new Promise<void>((resolve) => this.creditWaiters.push(resolve));
        continue;
      }
      const size = Math.min(MAX_DATA_CHUNK, this.sendCredit, data.length - offset);
      this.sendCredit -= size;
      await this.mux.writeDataFrame(encodeFrame(FrameKind.Data, this.id, data.subarray(offset, offset + size), stream));
      offset += size;
    }
  }

  sendEof(stream: StreamId): void {
    if (this.isClosed) return;
    this.mux.writeFrame(encodeFrame(FrameKind.Eof, this.id, undefined, stream));
  }

  /** Ends the channel in both directions. Idempotent. */
  close(): void {
    if (!this.sentClose && !this.mux.isClosed) {
      this.mux.writeFrame(encodeFrame(FrameKind.Close, this.id));
    }
    this.sentClose = true;
    this.finish(undefined);
  }

  /** @internal */
  onControl(message: ChannelMessage): void {
    this.emit('control', message);
  }

  /** @internal */
  onData(stream: number, data: Buffer): void {
    if (data.length > this.receiveCredit) {
      this.mux.fail(new ProtocolError(`channel ${this.id}: the peer sent ${data.length} bytes with ${this.receiveCredit} bytes of credit left`));
      return;
    }
    this.receiveCredit -= data.length;
    this.incoming(stream).push(data);
  }

  /** @internal */
  onEof(stream: number): void {
    const incoming = this.incoming(stream);
    if (!incoming.isEnded) incoming.eofReceived = true;
    incoming.end();
  }

  /** @internal */
  onWindow(bytes: number): void {
    // A peer granting absurd amounts only hurts itself; keep the number exact.
    this.sendCredit = Math.min(this.sendCredit + bytes, Number.MAX_SAFE_INTEGER);
    const waiters = this.creditWaiters;
    this.creditWaiters = [];
    for (const wake of waiters) wake();
  }

  /** @internal The peer closed the channel, or the connection went away (error set). */
  onRemoteClose(error: Error | undefined): void {
    this.receivedClose = true;
    if (!this.sentClose && !error && !this.mux.isClosed) {
      this.mux.writeFrame(encodeFrame(FrameKind.Close, this.id));
      this.sentClose = true;
    }
    this.finish(error);
  }

  /** @internal Grants the peer credit for bytes our consumer has taken (coalesced, see GRANT_THRESHOLD). */
  grant(bytes: number): void {
    this.pendingGrant += bytes;
    if (this.pendingGrant < GRANT_THRESHOLD || this.isClosed) return;
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(this.pendingGrant, 0);
    this.receiveCredit += this.pendingGrant;
    this.pendingGrant = 0;
    this.mux.writeFrame(encodeFrame(FrameKind.Window, this.id, payload));
  }

  private finished = false;
  private finish(error: Error | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.closeError = error;
    this.mux.forget(this.id);
    for (const incoming of this.readables.values()) incoming.end();
    for (const writable of this.writables.values()) if (!writable.writableFinished) writable.destroy();
    const waiters = this.creditWaiters;
    this.creditWaiters = [];
    for (const wake of waiters) wake();
    this.emit('close', error);
  }

  private incoming(stream: number): IncomingStream {
    let incoming = this.readables.get(stream);
    if (!incoming) {
      incoming = new IncomingStream(this);
      this.readables.set(stream, incoming);
      if (this.finished) incoming.end();
    }
    return incoming;
  }
}

/** A Readable fed by DATA frames that grants credit back as it is consumed. */
class IncomingStream {
  readonly readable: Readable;
  private unacknowledged = 0;
  private ended = false;
  /** Set when the stream ended through an EOF frame rather than a channel close. */
  eofReceived = false;

  constructor(private readonly channel: Channel) {
    this.readable = new Readable({
      highWaterMark: MAX_DATA_CHUNK * 4,
      read: () => this.acknowledge(),
    });
  }

  push(data: Buffer): void {
    if (this.ended) return;
    this.unacknowledged += data.length;
    if (this.readable.push(data)) this.acknowledge();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.readable.push(null);
  }

  private acknowledge(): void {
    const bytes = this.unacknowledged;
    this.unacknowledged = 0;
    this.channel.grant(bytes);
  }
}
