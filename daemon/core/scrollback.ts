/**
 * A session's scrollback: the recent output of its process, replayed to a
 * client that attaches later (session.ts).
 */

/** Output stream numbers, as in the exec framing: 1 stdout, 2 stderr. */
export type OutputStream = 1 | 2;

export const SCROLLBACK_BYTES = 256 * 1024;

/** A byte-bounded ring of output chunks; the oldest bytes go first. */
export class Scrollback {
  private chunks: Array<{ stream: OutputStream; data: Buffer }> = [];
  private size = 0;

  constructor(readonly capacity: number = SCROLLBACK_BYTES) {}

  get bytes(): number {
    return this.size;
  }

  push(stream: OutputStream, data: Buffer): void {
    if (data.length === 0 || this.capacity === 0) return;
    if (data.length >= this.capacity) {
      this.chunks = [{ stream, data: Buffer.from(data.subarray(data.length - this.capacity)) }];
      this.size = this.capacity;
      return;
    }
    this.chunks.push({ stream, data: Buffer.from(data) });
    this.size += data.length;
    while (this.size > this.capacity) {
      const first = this.chunks[0]!;
      const excess = this.size - this.capacity;
      if (first.data.length <= excess) {
        this.chunks.shift();
        this.size -= first.data.length;
      } else {
        first.data = first.data.subarray(excess);
        this.size -= excess;
      }
    }
  }

  /** The retained output, oldest first. */
  snapshot(): ReadonlyArray<{ readonly stream: OutputStream; readonly data: Buffer }> {
    return [...this.chunks];
  }
}
