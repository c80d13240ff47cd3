/**
 * Channel multiplexer over one byte stream (virtio-serial port, vsock, or a
 * socketpair in tests). Both ends of the agent protocol use this class. It
 * decodes frames, keeps the open channels by id and routes each frame to its
 * channel (channel.ts, which also does the per-channel flow control).
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
import type { Duplex } from 'node:stream';
import { Channel, type ChannelConnection } from './channel.js';
import { encodeFrame, FrameDecoder, FrameKind, MAX_GARBAGE_BYTES, ProtocolError, StreamId, type Frame } from './frame.js';
import { ChannelMessageSchema, type ChannelMessage } from './messages.js';

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

export class Mux extends EventEmitter<MuxEvents> implements ChannelConnection {
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
