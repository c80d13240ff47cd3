/**
 * Pacing of the streamed HTTP exec (`POST .../exec?cmd=...`, the SDKs'
 * execFileHTTP). That protocol has no lengths: a frame is whatever one read of
 * the response body returns, stream byte first. Reads follow TCP segments, so
 * two frames written back to back may reach the client as one read, which
 * corrupts the output (the second stream byte lands in the first payload) or
 * hides the exit frame. The SDK documents this ("cannot detect every coalesced
 * frame"); hob makes it unlikely: output of the same stream is merged into one
 * frame while frames are waiting, and frames leave at least `gapMs` apart.
 */
export class FramePacer {
  private readonly queue: Array<{ stream: number; parts: Buffer[]; size: number }> = [];
  private queuedBytes = 0;
  private running = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly send: (frame: Buffer) => void,
    private readonly gapMs = 10,
  ) {}

  /** Bytes waiting to be sent (callers pause their source above some amount). */
  get backlog(): number {
    return this.queuedBytes;
  }

  /** Queues a frame; merged into the last queued one when it is of the same output stream. */
  push(stream: number, payload: Buffer, mergeable = true): void {
    const last = this.queue[this.queue.length - 1];
    if (mergeable && last && last.stream === stream) {
      last.parts.push(payload);
      last.size += payload.length;
    } else {
      this.queue.push({ stream, parts: [payload], size: payload.length });
    }
    this.queuedBytes += payload.length;
    void this.pump();
  }

  /** Resolves once every queued frame has been sent. */
  drained(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    while (this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.queuedBytes -= next.size;
      this.send(Buffer.concat([Buffer.from([next.stream]), ...next.parts], next.size + 1));
      await new Promise((resolve) => setTimeout(resolve, this.gapMs));
    }
    this.running = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
