/**
 * One guest request and its response, the same for HTTP/1.1 and HTTP/2
 * (docs/architecture.md §11), so that forward.ts has one code path. HTTP/2's
 * pseudo-headers become a request target and a Host header, as HTTP/1.1
 * upstreams expect them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as h2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Readable, Writable } from 'node:stream';

export interface Exchange {
  method: string;
  /** Request target: path and query. */
  url: string;
  /** Host header (HTTP/1.1) or :authority (HTTP/2), as sent. */
  host: string;
  /** Raw header list (name, value, name, value...) without pseudo-headers; Host first for HTTP/2. */
  rawHeaders: readonly string[];
  headers: IncomingMessage['headers'];
  /** The request body. */
  body: Readable;
  /** Whether the response head was sent. */
  readonly answered: boolean;
  /** Sends the response head (flushed at once) and returns where the body goes. */
  reply(status: number, statusMessage: string | undefined, headers: readonly string[]): Writable;
  /** Answers with a short text and ends this request without reading more of its body. */
  refuse(status: number, message: string): void;
  /** Breaks the response off (after its head was sent). */
  abort(): void;
  /** Called once when the response is done or broken; `finished` says which. */
  onClose(cb: (finished: boolean) => void): void;
}

export function http1Exchange(req: IncomingMessage, res: ServerResponse): Exchange {
  req.on('error', () => res.destroy());
  res.on('error', () => req.destroy());
  return {
    method: req.method ?? 'GET', url: req.url ?? '/', host: req.headers.host ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body: req,
    get answered() { return res.headersSent; },
    reply(status, statusMessage, headers) {
      res.writeHead(status, statusMessage, [...headers]);
      res.flushHeaders();
      return res;
    },
    refuse(status, message) {
      req.pause();
      if (res.headersSent) return void res.destroy();
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', ...(status === 503 ? { 'Retry-After': '1' } : {}) });
      // The rest of the body is not read: the connection goes once the answer is out.
      res.end(`${message}\n`, () => { setTimeout(() => req.socket.destroy(), 1000).unref(); });
    },
    abort() { res.destroy(); },
    onClose(cb) { res.on('close', () => cb(res.writableFinished)); },
  };
}

export function http2Exchange(req: Http2ServerRequest, res: Http2ServerResponse): Exchange {
  req.on('error', () => req.stream.destroy());
  res.on('error', () => req.stream.destroy());
  const authority = req.headers[':authority'] ?? req.headers.host ?? '';
  const raw: string[] = ['Host', authority];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i] ?? '';
    if (!k.startsWith(':') && k.toLowerCase() !== 'host') raw.push(k, req.rawHeaders[i + 1] ?? '');
  }
  return {
    method: req.method, url: req.url, host: authority, rawHeaders: raw, headers: req.headers, body: req,
    get answered() { return res.headersSent; },
    reply(status, _statusMessage, headers) {
      // Node's HTTP/2 compatibility layer takes a raw list as HTTP/1.1 does (its types say only an object); the head goes out at once.
      res.writeHead(status, [...headers] as unknown as Record<string, string>);
      return res;
    },
    refuse(status, message) {
      req.pause();
      if (res.headersSent) return void req.stream.close(h2.NGHTTP2_CANCEL);
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...(status === 503 ? { 'retry-after': '1' } : {}) });
      // Only this stream ends; the body's remaining frames are refused by the reset.
      res.end(`${message}\n`, () => { if (!req.stream.closed) req.stream.close(h2.NGHTTP2_NO_ERROR); });
    },
    abort() { req.stream.close(h2.NGHTTP2_INTERNAL_ERROR); },
    onClose(cb) { res.on('close', () => cb(res.writableFinished)); },
  };
}
