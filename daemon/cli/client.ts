/**
 * The CLI's connection to hobd: HTTP requests and exec websockets, over the
 * unix socket (default, no token: the socket's permissions are the
 * authentication) or over TCP with a bearer token.
 *
 * Which one (`resolveTarget`), first match wins:
 * 1. `--url URL` → TCP;  2. `--socket PATH` → unix;
 * 3. `$HOB_URL` → TCP;   4. `$HOB_SOCKET` → unix;  5. /run/hob/hob.sock.
 * The token is `--token` or `$HOB_TOKEN` (TCP only).
 *
 * Failure modes: every call rejects with ConnectionError when hobd cannot be
 * reached (refused, no socket file, no permission), ApiError when it answers
 * with an error status (the API's `{error, message}` body), CliError when it
 * answers something that is not the documented shape.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { ApiError, CliError, UsageError, connectionError } from './errors.js';

export const DEFAULT_SOCKET = '/run/hob/hob.sock';

export type Target =
  | { readonly kind: 'unix'; readonly socketPath: string }
  | { readonly kind: 'tcp'; readonly url: URL; readonly token: string | undefined };

export interface ConnectionFlags {
  readonly socket?: string | undefined;
  readonly url?: string | undefined;
  readonly token?: string | undefined;
}

/** Picks the connection from flags and environment (see the module comment). @throws UsageError for a bad URL or both flags. */
export function resolveTarget(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>): Target {
  if (flags.url !== undefined && flags.socket !== undefined) throw new UsageError('give --socket or --url, not both');
  const token = flags.token ?? nonEmpty(env.HOB_TOKEN);
  if (flags.url !== undefined) return tcpTarget(flags.url, token);
  if (flags.socket !== undefined) return { kind: 'unix', socketPath: flags.socket };
  const envUrl = nonEmpty(env.HOB_URL);
  if (envUrl !== undefined) return tcpTarget(envUrl, token);
  return { kind: 'unix', socketPath: nonEmpty(env.HOB_SOCKET) ?? DEFAULT_SOCKET };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function tcpTarget(text: string, token: string | undefined): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url: "${text}" is not a URL (e.g. http://127.0.0.1:7707)`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`--url: only http:// URLs are supported (got ${url.protocol})`);
  return { kind: 'tcp', url, token };
}

/** How the target is named in messages: `socket /run/hob/hob.sock` or `http://127.0.0.1:7707`. */
export function describeTarget(target: Target): string {
  return target.kind === 'unix' ? `socket ${target.socketPath}` : target.url.origin;
}

/** Query parameters; arrays repeat the key, undefined values are left out. */
export type Query = Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;

export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value as readonly string[]) params.append(key, v);
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

export interface RequestOptions {
  readonly query?: Query;
  /** A JSON body. */
  readonly json?: unknown;
  /** A raw body, streamed. */
  readonly body?: Readable | Buffer;
  /** Length of a streamed body, when known (sent as Content-Length). */
  readonly contentLength?: number;
  readonly headers?: Readonly<Record<string, string>>;
}

// zod/mini speaks no language until told (classic zod, which hobd loads, sets English itself): a
// response that does not parse is reported in words, not "Invalid input".
z.config(en());

/** The API's error body; file errors carry the errno name in `code`. */
const ErrorBody = z.object({ error: z.optional(z.string()), message: z.optional(z.string()), code: z.optional(z.string()) });

/** Largest error body read (the rest is dropped). */
const MAX_ERROR_BODY = 64 * 1024;

/** Sprites' and hob's NDJSON progress line. */
export const ProgressLine = z.looseObject({
  type: z.enum(['info', 'error', 'complete']),
  data: z.optional(z.string()),
  error: z.optional(z.string()),
  code: z.optional(z.string()),
  time: z.optional(z.string()),
});
export type ProgressLine = z.infer<typeof ProgressLine>;

export class HobClient {
  constructor(readonly target: Target) {}

  /** Where hobd is, for messages. */
  get where(): string {
    return describeTarget(this.target);
  }

  /**
   * Sends a request and resolves with the response once its status says
   * success (< 400). The caller must consume the response.
   */
  send(method: string, path: string, options: RequestOptions = {}): Promise<IncomingMessage> {
    const headers: OutgoingHttpHeaders = { accept: 'application/json', ...options.headers };
    let payload: Buffer | Readable | undefined = options.body;
    if (options.json !== undefined) {
      payload = Buffer.from(JSON.stringify(options.json));
      headers['content-type'] = 'application/json';
    }
    if (Buffer.isBuffer(payload)) headers['content-length'] = String(payload.length);
    else if (payload !== undefined && options.contentLength !== undefined) headers['content-length'] = String(options.contentLength);
    if (this.target.kind === 'tcp' && this.target.token !== undefined) headers.authorization = `Bearer ${this.target.token}`;
    const fullPath = path + queryString(options.query);

    return new Promise<IncomingMessage>((resolve, reject) => {
      // One connection per request: a CLI makes few requests, and a kept-alive socket could be
      // closed by hobd between two of them, failing the second. Over the socket the connection is
      // made here, not by an agent: an agent's TLS server-name check compiles node's IPv6
      // pattern, 8 ms of `hob ls` (docs/architecture.md §23).
      const target = this.target;
      const req =
        target.kind === 'unix'
          ? httpRequest({ createConnection: () => connect(target.socketPath), path: fullPath, method, headers: { host: 'localhost', ...headers } })
          : httpRequest(new URL(fullPath, target.url), { method, headers, agent: false });
      let responded = false;
      req.on('error', (err) => {
        if (responded) return;
        // A reset once connected is hobd hanging up (it crashed or stopped), not hobd being absent.
        reject((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? new CliError(`the connection to hobd was lost: ${err.message}`) : connectionError(this.where, err));
      });
      req.on('response', (res) => {
        responded = true;
        const status = res.statusCode ?? 0;
        if (status < 400) {
          resolve(res);
          return;
        }
        readLimited(res, MAX_ERROR_BODY).then(
          (body) => reject(apiErrorFrom(status, body)),
          (err: unknown) => reject(new CliError(`hobd answered ${status} and the connection broke: ${(err as Error).message}`)),
        );
      });
      if (payload === undefined) {
        req.end();
      } else if (Buffer.isBuffer(payload)) {
        req.end(payload);
      } else {
        payload.on('error', (err) => req.destroy(err));
        payload.pipe(req);
      }
    });
  }

  /** A request whose JSON response is validated with `schema`. */
  async json<S extends z.core.$ZodType>(method: string, path: string, schema: S, options: RequestOptions = {}): Promise<z.output<S>> {
    const res = await this.send(method, path, options);
    const text = (await readLimited(res, 64 * 1024 * 1024)).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new CliError(`hobd sent a response that is not JSON for ${method} ${path}`);
    }
    return parseResponse(schema, value, `${method} ${path}`);
  }

  /** A request answered with no body (204). */
  async empty(method: string, path: string, options: RequestOptions = {}): Promise<void> {
    const res = await this.send(method, path, options);
    res.resume();
    await new Promise<void>((resolve, reject) => {
      res.on('end', resolve);
      res.on('error', reject);
    });
  }

  /**
   * A request answered with NDJSON (progress streams). Yields each line parsed
   * as JSON. A plain JSON response (a server that ignored the Accept header)
   * is yielded as one value.
   */
  async *ndjson(method: string, path: string, options: RequestOptions = {}): AsyncGenerator<unknown> {
    const res = await this.send(method, path, { ...options, headers: { accept: 'application/x-ndjson', ...options.headers } });
    const lines = await linesOf(res);
    for await (const line of lines) {
      if (line.trim() === '') continue;
      try {
        yield JSON.parse(line) as unknown;
      } catch {
        throw new CliError(`hobd sent a progress line that is not JSON: ${line.slice(0, 200)}`);
      }
    }
    if (!res.complete) throw new CliError('the connection to hobd broke before the operation finished');
  }

  /**
   * A request answered with server-sent events (`?follow=1` feeds). Yields the
   * `data` of each message parsed as JSON; ends when hobd ends the stream.
   */
  async *sse(path: string, options: RequestOptions = {}): AsyncGenerator<unknown> {
    const res = await this.send('GET', path, { ...options, headers: { accept: 'text/event-stream', ...options.headers } });
    const lines = await linesOf(res);
    let data: string[] = [];
    for await (const line of lines) {
      if (line === '') {
        if (data.length > 0) {
          const text = data.join('\n');
          data = [];
          try {
            yield JSON.parse(text) as unknown;
          } catch {
            throw new CliError(`hobd sent an event that is not JSON: ${text.slice(0, 200)}`);
          }
        }
      } else if (line.startsWith('data:')) {
        data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
      // Other fields (id:, event:) and comments (heartbeats) carry nothing the CLI needs.
    }
    if (!res.complete) throw new CliError('the connection to hobd broke');
  }

  /**
   * Opens a websocket (exec, attach). Resolves once open, with the socket
   * paused: hobd sends its first frames right after the handshake, often in
   * the same packet, so they would be emitted before the caller could listen.
   * `OpenSocket.listen` attaches the caller's listener, hands it what arrived
   * meanwhile, and resumes. Rejects with ApiError when hobd refuses the
   * upgrade (unknown sandbox, bad query...).
   */
  async openWebSocket(path: string, query?: Query): Promise<OpenSocket> {
    const fullPath = path + queryString(query);
    // Loaded here: most commands never open a websocket, and every one pays for what it loads.
    const { WebSocket } = await import('ws');
    const ws =
      this.target.kind === 'unix'
        ? new WebSocket(`ws+unix://${this.target.socketPath}:${fullPath}`, { perMessageDeflate: false })
        : new WebSocket(new URL(fullPath, this.target.url.href.replace(/^http/, 'ws')), {
            perMessageDeflate: false,
            headers: this.target.token !== undefined ? { authorization: `Bearer ${this.target.token}` } : {},
          });
    const early: Array<[RawData, boolean]> = [];
    const hold = (data: RawData, isBinary: boolean): void => {
      early.push([data, isBinary]);
    };
    ws.on('message', hold);
    return new Promise<OpenSocket>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        fn();
      };
      ws.once('open', () => {
        ws.pause();
        settle(() =>
          resolve({
            ws,
            listen(onMessage) {
              ws.off('message', hold);
              for (const [data, isBinary] of early.splice(0)) onMessage(data, isBinary);
              ws.on('message', onMessage);
              ws.resume();
            },
          }),
        );
      });
      ws.once('unexpected-response', (_req, res) => {
        readLimited(res, MAX_ERROR_BODY).then(
          (body) => settle(() => reject(apiErrorFrom(res.statusCode ?? 0, body))),
          () => settle(() => reject(new CliError(`hobd refused the websocket (${res.statusCode ?? '?'})`))),
        );
      });
      ws.once('error', (err) => settle(() => reject(connectionError(this.where, err))));
    });
  }
}

/** An open websocket whose messages are held until `listen` is called. */
export interface OpenSocket {
  readonly ws: WebSocket;
  /** Attaches the message listener, delivers the messages held so far, and resumes the socket. Call once. */
  listen(onMessage: (data: RawData, isBinary: boolean) => void): void;
}

/** Validates a response; a mismatch is hobd and this CLI disagreeing on the API, reported as such. */
export function parseResponse<S extends z.core.$ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = z.safeParse(schema, value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(`unexpected response from hobd to ${what} (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'bad shape'}): is the CLI the same version as hobd?`);
  }
  return parsed.data;
}

/** The ApiError for an error response. */
export function apiErrorFrom(status: number, body: Buffer): ApiError {
  let parsed: z.infer<typeof ErrorBody> | undefined;
  try {
    const result = ErrorBody.safeParse(JSON.parse(body.toString('utf8')));
    if (result.success) parsed = result.data;
  } catch {
    // not JSON: fall back to the status
  }
  const message = parsed?.message ?? parsed?.error ?? (body.length > 0 && body.length < 500 ? body.toString('utf8').trim() : `HTTP ${status}`);
  // File errors put the errno name in `code` and the text in `error`.
  const code = parsed?.code ?? parsed?.error ?? `http_${status}`;
  return new ApiError(status, code, message);
}

/** The lines of a response; readline is loaded by the first stream read this way (docs/architecture.md §23). */
async function linesOf(res: IncomingMessage): Promise<AsyncIterable<string>> {
  const { createInterface } = await import('node:readline');
  return createInterface({ input: res, crlfDelay: Infinity });
}

/** Reads a stream into a buffer, keeping at most `limit` bytes. */
export function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      if (size >= limit) return;
      const part = chunk.subarray(0, limit - size);
      chunks.push(part);
      size += part.length;
    });
    stream.on('end', () => resolve(Buffer.concat(chunks, size)));
    stream.on('error', reject);
  });
}
