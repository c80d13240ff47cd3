/**
 * Channel multiplexer over one byte stream (virtio-serial port, vsock, or a
 * socketpair in tests). Both ends of the agent protocol use this class.
 *
 * Flow control: each channel has, per direction, a byte credit that starts at
 * INITIAL_WINDOW. DATA frames consume the sender's credit; the receiver grants
 * credit back with WINDOW frames as its consumer reads (coalesced: one WINDOW
 * per GRANT_THRESHOLD bytes consumed, not one per DATA frame). A slow reader of
 * one channel therefore never stalls the others, and no side buffers more than
 * INITIAL_WINDOW bytes per channel (plus each stream Readable's highWaterMark)
 * that its consumer has not asked for.
 *
 * The peer is untrusted (on the host, it is the guest). Policy per violation:
 *   - undecodable bytes (bad magic, unknown kind, a length its kind may not
 *     carry): skipped up to the next magic and reported (protocolError), as a
 *     virtio-serial reconnect leaves half a frame behind; more than
 *     MAX_GARBAGE_BYTES of it without a valid frame in between drops the connection;
 *   - a CONTROL frame that is not a valid message: dropped and reported;
 *   - a CONTROL frame on a channel id that is not open: a new channel when this
 *     side accepts channels (the agent), else dropped without an answer (the
 *     host: the agent never opens channels, and answering each would let a
 *     peer that does not read make us queue a CLOSE per frame);
 *   - DATA/WINDOW/EOF/CLOSE on a channel id that is not open: dropped (late frames);
 *   - DATA beyond the credit granted, or DATA/EOF on a stream id that is not a
 *     StreamId: the peer is broken or hostile, the connection is dropped;
 *   - a peer that does not read: once MAX_UNSENT_BYTES are queued for it, the
 *     connection is dropped (DATA waits for the stream to drain; only control,
 *     WINDOW and CLOSE frames can queue, and a live peer reads them).
 * Dropping the connection closes every channel with an error and emits `close`
 * with it; the owner (AgentClient) decides whether to reconnect.
 */
import { EventEmitter } from 'node:events';
import { Readable, Writable, type Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder, FrameKind, MAX_DATA_CHUNK, MAX_GARBAGE_BYTES, ProtocolError, StreamId, type Frame } from './frame.js';
import { ChannelMessageSchema, type ChannelMessage } from './messages.js';

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
 * Bytes this side may have queued for a peer that does not read before the
 * connection is dropped. DATA waits for the stream to drain, so only control
 * frames can pile up: 16 requests of the largest size, far more than a peer
 * that reads ever lets accumulate.
 */
export const MAX_UNSENT_BYTES = 16 * 1024 * 1024;

export interface MuxOptions {
  /**
   * Whether a CONTROL frame on an unknown channel id opens a channel (`channel`
   * event). The agent accepts the host's requests this way; the host accepts
   * nothing (default true).
   */
  readonly acceptChannels?: boolean;
}

const STREAM_IDS = new Set<number>([StreamId.Stdin, StreamId.Stdout, StreamId.Stderr]);

export interface MuxEvents {
  /** The peer sent HELLO. Payload is unvalidated JSON; the caller validates it. */
  hello: [payload: unknown];
  /** A CONTROL frame arrived on a channel id that is not open (the agent side's "new request"). */
  channel: [channel: Channel, first: ChannelMessage];
  /** A frame could not be understood or broke the rules; see the policy above for whether the connection goes on. */
  protocolError: [error: ProtocolError];
  /** The underlying stream ended or failed; every channel is closed. */
  close: [error: Error | undefined];
}

export class Mux extends EventEmitter<MuxEvents> {
  private readonly decoder = new FrameDecoder();
  private readonly channels = new Map<number, Channel>();
  private nextChannelId = 1;
  private closed = false;
  private readonly acceptChannels: boolean;

  constructor(
    private readonly stream: Duplex,
    options: MuxOptions = {},
  ) {
    super();
    this.acceptChannels = options.acceptChannels ?? true;
    stream.on('data', (chunk: Buffer) => this.onChunk(chunk));
    stream.on('error', (err: Error) => this.shutdown(err));
    stream.on('close', () => this.shutdown(undefined));
    stream.on('end', () => this.shutdown(undefined));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends a HELLO frame (channel 0) with a JSON payload. */
  sendHello(payload: object): void {
    this.writeFrame(encodeFrame(FrameKind.Hello, 0, Buffer.from(JSON.stringify(payload))));
  }

  /** Opens a new channel with a locally chosen id (host side). */
  openChannel(): Channel {
    if (this.closed) throw new ProtocolError('connection is closed');
    let id = this.nextChannelId;
    while (this.channels.has(id) || id === 0) id = (id + 1) >>> 0;
    this.nextChannelId = (id + 1) >>> 0;
    const channel = new Channel(this, id);
    this.channels.set(id, channel);
    return channel;
  }

  /** Closes every channel without telling the peer (used when the peer said HELLO again: it is a new peer). */
  resetChannels(): void {
    for (const channel of [...this.channels.values()]) channel.onRemoteClose(new ProtocolError('connection reset by a new handshake'));
    this.channels.clear();
  }

  /** Ends the connection and every channel. */
  destroy(): void {
    this.stream.destroy();
    this.shutdown(undefined);
  }

  /**
   * Drops the connection because the peer broke the protocol: reports `error`
   * (protocolError), closes every channel with it and emits `close` with it.
   */
  fail(error: ProtocolError): void {
    if (this.closed) return;
    this.emit('protocolError', error);
    this.stream.destroy();
    this.shutdown(error);
  }

  /** @internal */
  writeFrame(frame: Buffer): boolean {
    if (this.closed) return false;
    const ok = this.stream.write(frame);
    this.checkUnsent();
    return ok;
  }

  /** @internal Waits until the underlying stream can take more data. */
  async writeDataFrame(frame: Buffer): Promise<void> {
    if (this.closed) throw new ProtocolError('connection is closed');
    const ok = this.stream.write(frame);
    this.checkUnsent();
    if (ok) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = (): void => { cleanup(); resolve(); };
      const onClose = (): void => { cleanup(); reject(new ProtocolError('connection closed while sending')); };
      const cleanup = (): void => {
        this.stream.off('drain', onDrain);
        this.stream.off('close', onClose);
      };
      this.stream.on('drain', onDrain);
      this.stream.on('close', onClose);
    });
  }

  private checkUnsent(): void {
    if (this.stream.writableLength > MAX_UNSENT_BYTES) {
      this.fail(new ProtocolError(`the peer does not read: more than ${MAX_UNSENT_BYTES} bytes queued for it`));
    }
  }

  /** @internal */
  forget(id: number): void {
    this.channels.delete(id);
  }

  private onChunk(chunk: Buffer): void {
    const before = this.decoder.skippedBytes;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.emit('protocolError', new ProtocolError(`undecodable input: ${String(err)}`));
      return;
    }
    if (this.decoder.skippedBytes !== before) {
      this.emit('protocolError', new ProtocolError(`skipped ${this.decoder.skippedBytes - before} bytes of garbage`));
    }
    for (const frame of frames) {
      if (this.closed) return;
      this.onFrame(frame);
    }
    if (this.decoder.garbageSinceFrame > MAX_GARBAGE_BYTES) {
      this.fail(new ProtocolError(`more than ${MAX_GARBAGE_BYTES} bytes of garbage without a valid frame`));
    }
  }

  private onFrame(frame: Frame): void {
    if (frame.kind === FrameKind.Hello) {
      let payload: unknown;
      try {
        payload = JSON.parse(frame.payload.toString('utf8'));
      } catch {
        this.emit('protocolError', new ProtocolError('HELLO payload is not JSON'));
        return;
      }
      this.emit('hello', payload);
      return;
    }
    const channel = this.channels.get(frame.channel);
    if (frame.kind === FrameKind.Control) {
      // Not parsed at all when nobody would take it.
      if (!channel && (!this.acceptChannels || frame.channel === 0)) return;
      const message = parseControl(frame.payload);
      if (!message.ok) {
        this.emit('protocolError', new ProtocolError(`channel ${frame.channel}: ${message.error}`));
        return;
      }
      if (channel) {
        channel.onControl(message.value);
      } else if (frame.channel !== 0) {
        const created = new Channel(this, frame.channel);
        this.channels.set(frame.channel, created);
        this.emit('channel', created, message.value);
      }
      return;
    }
    if ((frame.kind === FrameKind.Data || frame.kind === FrameKind.Eof) && !STREAM_IDS.has(frame.stream)) {
      this.fail(new ProtocolError(`channel ${frame.channel}: ${frame.kind === FrameKind.Data ? 'DATA' : 'EOF'} on stream ${frame.stream}, which does not exist`));
      return;
    }
    if (!channel) return; // late frames for a channel already closed
    switch (frame.kind) {
      case FrameKind.Data:
        channel.onData(frame.stream, frame.payload);
        break;
      case FrameKind.Window:
        channel.onWindow(frame.payload.readUInt32BE(0)); // the decoder let only 4-byte WINDOW frames through
        break;
      case FrameKind.Eof:
        channel.onEof(frame.stream);
        break;
      case FrameKind.Close:
        channel.onRemoteClose(undefined);
        break;
    }
  }

  private shutdown(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    const reason = error ?? new ProtocolError('connection closed');
    for (const channel of [...this.channels.values()]) channel.onRemoteClose(reason);
    this.channels.clear();
    this.emit('close', error);
  }
}

function parseControl(payload: Buffer): { ok: true; value: ChannelMessage } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, error: 'control payload is not JSON' };
  }
  const parsed = ChannelMessageSchema.safeParse(json);
  if (!parsed.success) return { ok: false, error: `invalid control message: ${parsed.error.message}` };
  return { ok: true, value: parsed.data };
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
    private readonly mux: Mux,
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
