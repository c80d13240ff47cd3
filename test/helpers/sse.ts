/**
 * A server-sent events reader over hob's unix socket, for tests of `?follow=1`
 * feeds: parses `data:` lines as JSON and keeps comment lines.
 */
import http from 'node:http';

/** A follow request read as server-sent events. */
export interface Follow<T = unknown> {
  /** The next event (waits for it). */
  next(): Promise<T>;
  /** Comment lines seen so far (": ready", ": heartbeat"). */
  readonly comments: string[];
  /** Resolves when the server ends or drops the connection. */
  readonly closed: Promise<void>;
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly response: http.IncomingMessage;
  destroy(): void;
}

export function follow<T = unknown>(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<Follow<T>> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, agent: false, headers: { host: 'localhost', accept: 'text/event-stream', ...headers } }, (res) => {
      const events: T[] = [];
      const comments: string[] = [];
      let waiter: (() => void) | undefined;
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of message.split('\n')) {
            if (line.startsWith(':')) comments.push(line);
            if (line.startsWith('data: ')) events.push(JSON.parse(line.slice(6)) as T);
          }
          waiter?.();
        }
      });
      const closed = new Promise<void>((done) => res.once('close', () => done()));
      res.on('error', () => undefined);
      void closed.then(() => waiter?.());
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        response: res,
        comments,
        closed,
        destroy: () => req.destroy(),
        async next() {
          while (events.length === 0) {
            if (res.closed) throw new Error('the stream ended');
            await new Promise<void>((r) => (waiter = r));
          }
          return events.shift() as T;
        },
      });
    });
    req.on('error', reject);
    req.end();
  });
}

