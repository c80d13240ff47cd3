/**
 * Wire framing of the host <-> guest agent protocol.
 *
 * Every frame is a 12-byte header followed by a payload:
 *
 *   offset size field
 *   0      2    magic    0x68 0x62 ("hb"); lets a reader resynchronise after garbage
 *   2      1    kind     FrameKind
 *   3      1    stream   data stream id for DATA and EOF frames (see StreamId), else 0
 *   4      4    channel  channel id, unsigned big-endian; 0 is the connection itself
 *   8      4    length   payload length in bytes, unsigned big-endian, <= MAX_PAYLOAD
 *
 * Payloads: HELLO and CONTROL carry UTF-8 JSON (validated with zod by the
 * receiver, see messages.ts); DATA carries raw bytes; WINDOW carries a u32
 * byte credit; EOF and CLOSE carry nothing.
 */

export const MAGIC_0 = 0x68;
export const MAGIC_1 = 0x62;
export const HEADER_SIZE = 12;
/** Largest payload a frame may carry. Data is split into chunks of MAX_DATA_CHUNK. */
export const MAX_PAYLOAD = 1024 * 1024;
export const MAX_DATA_CHUNK = 64 * 1024;

export enum FrameKind {
  /** Version negotiation; resets the connection's channels. Channel 0. */
  Hello = 1,
  /** A JSON control message on a channel (request, result, error, exit, resize, ...). */
  Control = 2,
  /** Bytes of one stream of a channel; consumes flow-control credit. */
  Data = 3,
  /** Grants the peer `n` more bytes of credit on a channel (payload: u32). */
  Window = 4,
  /** The sender will send no more data on this stream of the channel. */
  Eof = 5,
  /** The channel is finished in both directions; its id may be reused after both sides closed it. */
  Close = 6,
}

/** Stream ids of DATA/EOF frames. Tunnels and file transfers use Stdin host->guest and Stdout guest->host. */
export enum StreamId {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
}

export interface Frame {
  readonly kind: FrameKind;
  readonly stream: number;
  readonly channel: number;
  readonly payload: Buffer;
}

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export function encodeFrame(kind: FrameKind, channel: number, payload: Buffer = Buffer.alloc(0), stream = 0): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new ProtocolError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header[0] = MAGIC_0;
  header[1] = MAGIC_1;
  header[2] = kind;
  header[3] = stream;
  header.writeUInt32BE(channel >>> 0, 4);
  header.writeUInt32BE(payload.length, 8);
  return payload.length === 0 ? header : Buffer.concat([header, payload]);
}

const KNOWN_KINDS = new Set<number>([1, 2, 3, 4, 5, 6]);

/**
 * Incremental decoder: push() arbitrary chunks, get back complete frames.
 *
 * On a header that is not valid (bad magic, unknown kind, oversized length) the
 * decoder drops bytes up to the next magic and reports how many it skipped, so a
 * half-written frame left in a virtio-serial buffer by a previous host
 * connection cannot wedge the stream forever.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  /** Bytes discarded while resynchronising, for diagnostics. */
  skippedBytes = 0;

  push(chunk: Buffer): Frame[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffer.length < HEADER_SIZE) {
        this.dropToMagicIfInvalidPrefix();
        break;
      }
      const b = this.buffer;
      const kind = b[2] as number;
      const length = b.readUInt32BE(8);
      if (b[0] !== MAGIC_0 || b[1] !== MAGIC_1 || !KNOWN_KINDS.has(kind) || length > MAX_PAYLOAD) {
        this.resync();
        continue;
      }
      if (b.length < HEADER_SIZE + length) break;
      frames.push({
        kind: kind as FrameKind,
        stream: b[3] as number,
        channel: b.readUInt32BE(4),
        payload: Buffer.from(b.subarray(HEADER_SIZE, HEADER_SIZE + length)),
      });
      this.buffer = b.subarray(HEADER_SIZE + length);
    }
    return frames;
  }

  /** Skip at least one byte, up to the next possible magic. */
  private resync(): void {
    const next = this.buffer.indexOf(MAGIC_0, 1);
    const drop = next === -1 ? this.buffer.length : next;
    this.skippedBytes += drop;
    this.buffer = this.buffer.subarray(drop);
  }

  private dropToMagicIfInvalidPrefix(): void {
    const b = this.buffer;
    if (b.length === 0) return;
    if (b[0] !== MAGIC_0 || (b.length > 1 && b[1] !== MAGIC_1)) this.resync();
  }
}
