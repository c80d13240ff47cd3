/**
 * `hob mcp`: the MCP server on stdin/stdout, a client of hobd like the rest of
 * the CLI (the socket, or the TCP listener with a token). Nothing but the
 * protocol may go to stdout; the scope given here is applied client-side
 * (docs/architecture.md §16: a scoped token is the stronger guard).
 */
import type { Readable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { TokenScope } from '../auth/scope.js';
import type { HobClient } from '../cli/client.js';
import { McpApi, type ApiFetch } from './api.js';
import { createMcpServer } from './server.js';

/** The API through the CLI's client (its errors carry the API's message). */
export function clientFetch(client: HobClient): ApiFetch {
  return async (method, path, request) => {
    const res = await client.send(method, path, {
      query: request.query,
      json: request.json,
      body: request.body,
      headers: request.accept !== undefined ? { accept: request.accept } : undefined,
    });
    return { body: res, cancel: () => res.destroy() };
  };
}

/** Serves MCP on the given streams until the input ends. */
export async function serveStdio(options: { client: HobClient; scope: TokenScope; version: string; stdin: Readable; stdout: NodeJS.WritableStream }): Promise<void> {
  const server = createMcpServer({ api: new McpApi(clientFetch(options.client)), scope: options.scope, version: options.version });
  const transport = new StdioServerTransport(options.stdin, options.stdout as import('node:stream').Writable);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
    options.stdin.once('end', () => void server.close());
    options.stdin.once('close', () => void server.close());
  });
  await server.connect(transport);
  await closed;
}
