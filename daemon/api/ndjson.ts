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

export function ndjsonOperation<T>(options: NdjsonOptions<T>): Promise<Response> {
  return new Promise<Response>((resolve) => {
    let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
    const write = (value: unknown): void => {
      try {
        controller?.enqueue(encoder.encode(JSON.stringify(value) + '\n'));
      } catch {
        // The client went away; the operation itself goes on.
      }
    };
    const close = (): void => {
      try {
        controller?.close();
      } catch {
        // Already cancelled by the client.
      }
    };
    const start = (): void => {
      if (controller) return;
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
        },
      });
      resolve(new Response(stream, { status: 200, headers: { 'content-type': NDJSON, 'cache-control': 'no-store' } }));
    };
    const progress = (event: ProgressEvent): void => {
      start();
      write(event);
    };
    options.run(progress).then(
      (value) => {
        start();
        write(options.result(value));
        close();
      },
      (err: unknown) => {
        if (!controller) {
          resolve(options.failBeforeStart(err));
          return;
        }
        const { body, unexpected } = errorResponse(err);
        if (unexpected) options.onUnexpected(err);
        write({ type: 'error', error: body.message, data: body.message, code: body.error, time: new Date().toISOString() });
        close();
      },
    );
  });
}
