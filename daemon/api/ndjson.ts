/**
 * NDJSON progress streams (`application/x-ndjson`), as Sprites streams
 * checkpoint and restore progress: one JSON object per line.
 *
 * The response starts only with the first progress event. An operation that
 * fails before reporting anything (name taken, bad size, pool full) therefore
 * still gets its proper HTTP status and JSON error body; once the stream has
 * started the status is 200 and a failure becomes a last line
 * `{"type":"error","error":message,"data":message,"code":code,"time"}`.
 */
import type { ProgressEvent, ProgressSink } from '../core/types.js';
import { errorResponse } from './errors.js';

export const NDJSON = 'application/x-ndjson';

/** Whether the client asked for NDJSON progress (hob extension on create/start). */
export function wantsNdjson(accept: string | undefined): boolean {
  return accept !== undefined && /(^|[,\s])application\/x-ndjson\b/i.test(accept);
}

export interface NdjsonOptions<T> {
  /** Runs the operation, reporting progress through the sink. */
  readonly run: (progress: ProgressSink) => Promise<T>;
  /** The last line on success. */
  readonly result: (value: T) => unknown;
  /** The response for a failure before the stream started (the API's error response). */
  readonly failBeforeStart: (err: unknown) => Response;
  /** Called with unexpected errors (bugs) that occur after the stream started, for the log. */
  readonly onUnexpected: (err: unknown) => void;
}

const encoder = new TextEncoder();

/** Bytes queued for a client before `room()` waits for it to read (backpressure). */
const DEFAULT_HIGH_WATER_BYTES = 64 * 1024;

/** What writes the lines of an NDJSON response. */
export interface NdjsonWriter {
  /** Queues one line; dropped once the client has gone away. */
  line(value: unknown): void;
  /** Resolves once the client has room for more lines, or has gone away. */
  room(): Promise<void>;
  /** Fires when the client goes away (or `signal` aborts). */
  readonly aborted: AbortSignal;
}

/**
 * A 200 NDJSON response whose lines `run` writes; it ends when `run` resolves
 * (and errors when it rejects). The one writer of NDJSON in the API.
 */
export function ndjsonStream(run: (out: NdjsonWriter) => Promise<void>, options: { signal?: AbortSignal; highWaterMark?: number } = {}): Response {
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
        const out: NdjsonWriter = {
          aborted: aborted.signal,
          line(value) {
            if (aborted.signal.aborted) return;
            try {
              controller.enqueue(encoder.encode(`${JSON.stringify(value)}\n`));
            } catch {
              aborted.abort();
            }
          },
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
  return new Response(stream, { status: 200, headers: { 'content-type': NDJSON, 'cache-control': 'no-store' } });
}

export function ndjsonOperation<T>(options: NdjsonOptions<T>): Promise<Response> {
  return new Promise<Response>((resolve) => {
    let out: NdjsonWriter | undefined;
    let finish: (() => void) | undefined;
    const start = (): NdjsonWriter => {
      if (!out) {
        // ndjsonStream calls run at once, so `out` is set when it returns.
        resolve(ndjsonStream((writer) => {
          out = writer;
          return new Promise<void>((done) => (finish = done));
        }));
      }
      return out as NdjsonWriter;
    };
    const progress = (event: ProgressEvent): void => start().line(event);
    options.run(progress).then(
      (value) => {
        start().line(options.result(value));
        finish?.();
      },
      (err: unknown) => {
        if (!out) {
          resolve(options.failBeforeStart(err));
          return;
        }
        const { body, unexpected } = errorResponse(err);
        if (unexpected) options.onUnexpected(err);
        out.line({ type: 'error', error: body.message, data: body.message, code: body.error, time: new Date().toISOString() });
        finish?.();
      },
    );
  });
}
