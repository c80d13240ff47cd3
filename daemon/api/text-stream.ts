/**
 * A streamed 200 response whose text a producer writes with backpressure: the
 * one mechanism under the NDJSON streams (ndjson.ts) and the server-sent events
 * (sse.ts). The producer queues text, and waits with `room()` while the client
 * is not reading (node-server only pulls more once the socket has drained).
 */

const encoder = new TextEncoder();

/** Bytes queued for a client before `room()` waits for it to read (backpressure). */
export const DEFAULT_HIGH_WATER_BYTES = 64 * 1024;

export interface TextWriter {
  /** Queues text; dropped once the client has gone away. */
  write(text: string): void;
  /** Whether the client has room for more without waiting. */
  hasRoom(): boolean;
  /** Resolves once the client has room for more, or has gone away. */
  room(): Promise<void>;
  /** Fires when the client goes away (or `signal` aborts). */
  readonly aborted: AbortSignal;
}

export interface TextStreamOptions {
  /** Ends the producer's writes (the stream still closes when `run` resolves). */
  readonly signal?: AbortSignal;
  readonly highWaterMark?: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** A 200 response whose body `run` writes; it ends when `run` resolves (and errors when it rejects). */
export function textStream(run: (out: TextWriter) => Promise<void>, options: TextStreamOptions): Response {
  const aborted = new AbortController();
  const onAbort = (): void => aborted.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  /** Writers waiting for room, woken by pull() or the abort. */
  let waiting: Array<() => void> = [];
  const wake = (): void => {
    const woken = waiting;
    waiting = [];
    for (const resolve of woken) resolve();
  };
  aborted.signal.addEventListener('abort', wake, { once: true });
  const stream = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const out: TextWriter = {
          aborted: aborted.signal,
          write(text) {
            if (aborted.signal.aborted) return;
            try {
              controller.enqueue(encoder.encode(text));
            } catch {
              aborted.abort();
            }
          },
          hasRoom: () => (controller.desiredSize ?? 0) > 0,
          async room() {
            while ((controller.desiredSize ?? 0) <= 0 && !aborted.signal.aborted) await new Promise<void>((resolve) => waiting.push(resolve));
          },
        };
        run(out)
          .then(
            () => {
              try {
                controller.close();
              } catch {
                // cancelled by the client
              }
            },
            (err: unknown) => controller.error(err),
          )
          .finally(() => options.signal?.removeEventListener('abort', onAbort));
      },
      pull() {
        wake();
      },
      cancel() {
        aborted.abort();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_BYTES }),
  );
  return new Response(stream, { status: 200, headers: { 'cache-control': 'no-store', ...options.headers } });
}
