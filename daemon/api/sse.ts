/**
 * Server-sent events (`text/event-stream`): how the API streams a live feed
 * that a browser's EventSource and the CLI both read. Each message is one
 * `id:` line (EventSource sends it back as `Last-Event-ID` when it reconnects)
 * and one `data:` line of JSON; a comment line goes out every `heartbeatMs` so
 * that proxies and clients see a live connection, and a client that has gone
 * is noticed. Heartbeats are skipped while the client is not reading.
 */
import { textStream, type TextWriter } from './text-stream.js';

export const EVENT_STREAM = 'text/event-stream';

/** Default heartbeat period. */
export const SSE_HEARTBEAT_MS = 15_000;

export interface SseWriter {
  /** Queues one message: `data` as JSON, with `id` when given. */
  send(data: unknown, id?: number | string): void;
  /** Resolves once the client has room for more, or has gone away. */
  room(): Promise<void>;
  /** Fires when the client goes away (or `signal` aborts). */
  readonly aborted: AbortSignal;
}

export interface SseOptions {
  readonly signal?: AbortSignal;
  readonly heartbeatMs?: number;
  readonly highWaterMark?: number;
}

/** Whether the client asked for server-sent events. */
export function wantsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && /(^|[,\s])text\/event-stream\b/i.test(accept);
}

/** A 200 event stream whose messages `run` sends; it ends when `run` resolves. */
export function sseStream(run: (out: SseWriter) => Promise<void>, options: SseOptions = {}): Response {
  return textStream(
    async (text: TextWriter) => {
      const beat = setInterval(() => {
        if (text.hasRoom()) text.write(': heartbeat\n\n');
      }, options.heartbeatMs ?? SSE_HEARTBEAT_MS);
      try {
        // A first line at once: the client knows the stream is open before the first event.
        text.write(': ready\n\n');
        await run({
          aborted: text.aborted,
          // JSON.stringify never leaves a raw newline in its output, so one data line is enough.
          send: (data, id) => text.write(`${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`),
          room: () => text.room(),
        });
      } finally {
        clearInterval(beat);
      }
    },
    {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {}),
      // No proxy buffering (nginx honours X-Accel-Buffering), never cached.
      headers: { 'content-type': EVENT_STREAM, 'x-accel-buffering': 'no' },
    },
  );
}
