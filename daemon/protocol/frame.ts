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
 *   8      4    length   payload length in bytes, unsigned big-endian, <= its kind's maximum (MAX_PAYLOAD_OF)
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

/** Largest HELLO payload: an AgentHello is at most ~25 KB (200 capabilities of 100 chars). */
export const MAX_HELLO_PAYLOAD = 64 * 1024;

/**
 * Largest payload each kind may carry; a header claiming more is garbage (the
 * decoder resynchronises instead of waiting for, or allocating, the claimed
 * bytes). DATA is never sent in pieces larger than MAX_DATA_CHUNK, WINDOW
 * carries exactly a u32, EOF and CLOSE nothing.
 */
const MAX_PAYLOAD_OF: Readonly<Record<number, number>> = {
  [FrameKind.Hello]: MAX_HELLO_PAYLOAD,
  [FrameKind.Control]: MAX_PAYLOAD,
  [FrameKind.Data]: MAX_DATA_CHUNK,
  [FrameKind.Window]: 4,
  [FrameKind.Eof]: 0,
  [FrameKind.Close]: 0,
};

/**
 * Garbage the decoder skips before the connection counts as broken (see
 * Mux): what a previous connection can leave behind is at most one half-written
 * frame, so twice the largest frame leaves room and still stops a peer that
 * sends nothing but noise.
 */
export const MAX_GARBAGE_BYTES = 2 * (HEADER_SIZE + MAX_PAYLOAD);

function validHeader(b: Buffer): boolean {
  if (b[0] !== MAGIC_0 || b[1] !== MAGIC_1) return false;
  const max = MAX_PAYLOAD_OF[b[2] as number];
  if (max === undefined) return false;
  const length = b.readUInt32BE(8);
  // WINDOW must be exactly 4 bytes; every other kind at most its maximum.
  return b[2] === FrameKind.Window ? length === 4 : length <= max;
}

/**
 * Incremental decoder: push() arbitrary chunks, get back complete frames.
 *
 * On a header that is not valid (bad magic, unknown kind, a length its kind may
 * not carry) the decoder drops bytes up to the next magic and reports how many
 * it skipped, so a half-written frame left in a virtio-serial buffer by a
 * previous host connection cannot wedge the stream forever.
 *
 * Memory: it holds at most one incomplete frame (HEADER_SIZE + MAX_PAYLOAD).
 * Chunks of a frame still incomplete are kept in a list and joined once the
 * frame is complete, so a frame trickled in small pieces is copied a bounded
 * number of times (joining on every push would copy it quadratically).
 */
export class FrameDecoder {
  /** Contiguous bytes starting where the next frame (or garbage) starts. */
  private head: Buffer = Buffer.alloc(0);
  /** Chunks received after `head`, not yet joined to it. */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Bytes the frame at the start of `head` needs in all; 0 while its header is incomplete. */
  private need = 0;
  /** Bytes discarded while resynchronising, for diagnostics. */
  skippedBytes = 0;
  /** Bytes discarded since the last valid frame (see MAX_GARBAGE_BYTES). */
  garbageSinceFrame = 0;

  /** Bytes held, waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.head.length + this.tailBytes;
  }

  push(chunk: Buffer): Frame[] {
    if (this.need > 0 && this.bufferedBytes + chunk.length < this.need) {
      this.tail.push(chunk);
      this.tailBytes += chunk.length;
      return [];
    }
    if (this.head.length === 0 && this.tail.length === 0) this.head = chunk;
    else this.head = Buffer.concat([this.head, ...this.tail, chunk]);
    this.tail = [];
    this.tailBytes = 0;
    this.need = 0;
    const frames: Frame[] = [];
    for (;;) {
      if (this.head.length < HEADER_SIZE) {
        this.dropToMagicIfInvalidPrefix();
        break;
      }
      const b = this.head;
      if (!validHeader(b)) {
        this.resync();
        continue;
      }
      const length = b.readUInt32BE(8);
      if (b.length < HEADER_SIZE + length) {
        this.need = HEADER_SIZE + length;
        break;
      }
      frames.push({
        kind: b[2] as FrameKind,
        stream: b[3] as number,
        channel: b.readUInt32BE(4),
        // A copy, so that a small frame does not keep a large joined buffer alive.
        payload: Buffer.from(b.subarray(HEADER_SIZE, HEADER_SIZE + length)),
      });
      this.garbageSinceFrame = 0;
      this.head = b.subarray(HEADER_SIZE + length);
    }
    // Do not keep a large joined buffer alive for a few leftover bytes.
    if (this.head.length > 0 && this.head.length < 4096 && this.head.buffer.byteLength > 64 * 1024) this.head = Buffer.from(this.head);
    return frames;
  }

  /** Skip at least one byte, up to the next possible magic. */
  private resync(): void {
    const next = this.head.indexOf(MAGIC_0, 1);
    const drop = next === -1 ? this.head.length : next;
    this.skippedBytes += drop;
    this.garbageSinceFrame += drop;
    this.head = this.head.subarray(drop);
  }

  private dropToMagicIfInvalidPrefix(): void {
    const b = this.head;
    if (b.length === 0) return;
    if (b[0] !== MAGIC_0 || (b.length > 1 && b[1] !== MAGIC_1)) this.resync();
  }
}
