/**
 * How the MCP tools reach hob: through its HTTP API, never its core, so that
 * every rule of the API (validation, token scope, locks) applies to them as to
 * any client. One interface, two transports: `hob mcp` on stdio sends over
 * hobd's socket or TCP listener (the CLI's HobClient, mcp/stdio.ts); the
 * streamable HTTP endpoint inside hobd calls the API in process with the
 * caller's own credentials (api/routes/mcp.ts).
 */
import * as z from 'zod';

/** Query parameters; undefined values are left out. */
export type ApiQuery = Readonly<Record<string, string | number | boolean | undefined>>;

export interface ApiRequest {
  readonly query?: ApiQuery;
  /** A JSON body. */
  readonly json?: unknown;
  /** A raw body (file contents). */
  readonly body?: Buffer;
  /** `application/x-ndjson` for progress streams. */
  readonly accept?: string;
}

/** A successful answer of the API: its body, as it arrives. */
export interface ApiReply {
  readonly body: AsyncIterable<Uint8Array>;
  /** Stops reading (the rest of the body is not wanted). */
  cancel(): void;
}

/**
 * Sends one request. Resolves for a success status; rejects with an Error
 * whose message is the API's own (`no sandbox named "x"`) for an error status.
 */
export type ApiFetch = (method: string, path: string, request: ApiRequest) => Promise<ApiReply>;

/** An answer hob's API should not give (a bug, or a client and hobd of different versions). */
export class McpApiError extends Error {}

/** Largest JSON answer read, and largest progress stream. */
const MAX_JSON = 16 * 1024 * 1024;
const MAX_PROGRESS = 1024 * 1024;

/** A progress line of a long operation (create, fork, checkpoint, restore). */
export interface ProgressNote {
  readonly index: number;
  readonly text: string;
}

export class McpApi {
  constructor(private readonly fetch: ApiFetch) {}

  /** A JSON answer, validated with the wire schema. */
  async json<S extends z.core.$ZodType>(method: string, path: string, schema: S, request: ApiRequest = {}, limit = MAX_JSON): Promise<z.output<S>> {
    const { data, truncated } = await this.bytes(method, path, limit, request);
    if (truncated) throw new McpApiError(`the answer to ${method} ${path} is over ${limit} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(data.toString('utf8'));
    } catch {
      throw new McpApiError(`hobd answered ${method} ${path} with something that is not JSON`);
    }
    const parsed = z.safeParse(schema, value);
    if (!parsed.success) throw new McpApiError(`unexpected answer from hobd to ${method} ${path}: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
    return parsed.data;
  }

  /** A request whose answer has no body worth reading. */
  async empty(method: string, path: string, request: ApiRequest = {}): Promise<void> {
    await this.bytes(method, path, 64 * 1024, request);
  }

  /** At most `limit` bytes of the answer; `truncated` when there was more (the rest is not read). */
  async bytes(method: string, path: string, limit: number, request: ApiRequest = {}): Promise<{ data: Buffer; truncated: boolean }> {
    const reply = await this.fetch(method, path, request);
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    try {
      for await (const chunk of reply.body) {
        const room = limit - size;
        if (chunk.byteLength > room) {
          chunks.push(Buffer.from(chunk.subarray(0, room)));
          size = limit;
          truncated = true;
          break;
        }
        chunks.push(Buffer.from(chunk));
        size += chunk.byteLength;
      }
    } finally {
      if (truncated) reply.cancel();
    }
    return { data: Buffer.concat(chunks, size), truncated };
  }

  /**
   * An NDJSON progress stream: `onProgress` for each `info` line, the last line
   * as the result. A `{type: "error"}` line rejects with its message.
   */
  async progress(method: string, path: string, request: ApiRequest, onProgress: (note: ProgressNote) => void): Promise<unknown> {
    const reply = await this.fetch(method, path, { ...request, accept: 'application/x-ndjson' });
    const decoder = new TextDecoder();
    let pending = '';
    let size = 0;
    let last: unknown;
    let index = 0;
    const take = (line: string): void => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw new McpApiError(`hobd sent a progress line that is not JSON for ${method} ${path}`);
      }
      const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
      const text = typeof value === 'object' && value !== null ? (value as { data?: unknown; error?: unknown }) : {};
      if (type === 'error') throw new Error(String(text.error ?? text.data ?? 'the operation failed'));
      if (type === 'info' && typeof text.data === 'string') onProgress({ index: index++, text: text.data });
      last = value;
    };
    for await (const chunk of reply.body) {
      size += chunk.byteLength;
      if (size > MAX_PROGRESS) {
        reply.cancel();
        throw new McpApiError(`the progress of ${method} ${path} is over ${MAX_PROGRESS} bytes`);
      }
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        take(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
    }
    take(pending + decoder.decode());
    if (last === undefined) throw new McpApiError(`hobd ended ${method} ${path} without a result`);
    return last;
  }
}

/** The API path of a sandbox. */
export function sandboxPath(name: string, rest = ''): string {
  return `/v1/sandboxes/${encodeURIComponent(name)}${rest}`;
}

/** `?a=1&b=x` from a query (undefined values left out), or "". */
export function queryString(query: ApiQuery | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) params.append(key, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}
