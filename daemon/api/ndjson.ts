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
import { textStream } from './text-stream.js';

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
  return textStream(
    (text) => run({ aborted: text.aborted, line: (value) => text.write(`${JSON.stringify(value)}\n`), room: () => text.room() }),
    { ...options, headers: { 'content-type': NDJSON } },
  );
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
