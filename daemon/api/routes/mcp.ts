/**
 * hob's MCP server over MCP's streamable HTTP transport (docs/architecture.md
 * §16), at `/mcp` on both listeners: on TCP it needs a hob token like every
 * route, and a scoped token holds the agent to its scope.
 *
 * Stateless: every `POST /mcp` gets its own server and transport, answered
 * with JSON (no session, no server-sent stream; `GET` and `DELETE` are 405).
 * The tools call this same API in process with the caller's own Host and
 * Authorization headers, so the admission, validation and scope of every
 * route apply to them unchanged. The body is read with a bound before the
 * SDK sees it; malformed JSON-RPC gets the SDK's JSON-RPC error answer.
 */
import { Hono } from 'hono';
import { McpApi, queryString, type ApiFetch } from '../../mcp/api.js';
import type { ApiContext, ApiDeps, ApiEnv } from '../context.js';
import { readLimitedBody } from '../validate.js';

/** Largest MCP request body (a write_file of up to 8 MiB of text fits). */
const MAX_MCP_BODY = 16 * 1024 * 1024;

/** The app's own fetch, as createApi passes it. */
export type AppFetch = (request: Request, env: ApiEnv['Bindings']) => Response | Promise<Response>;

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status });
}

/** The API, called in process with the credentials of the MCP request `c`. */
export function inProcessFetch(appFetch: AppFetch, c: ApiContext): ApiFetch {
  const host = c.req.header('host') ?? 'localhost';
  const authorization = c.req.header('authorization');
  return async (method, path, request) => {
    const headers = new Headers({ host, accept: request.accept ?? 'application/json' });
    if (authorization !== undefined) headers.set('authorization', authorization);
    let body: string | Uint8Array | undefined;
    if (request.json !== undefined) {
      body = JSON.stringify(request.json);
      headers.set('content-type', 'application/json');
    } else if (request.body !== undefined) {
      body = new Uint8Array(request.body);
    }
    const response = await appFetch(new Request(`http://${host}${path}${queryString(request.query)}`, { method, headers, body }), c.env);
    if (response.status >= 400) throw new Error(await errorMessage(response));
    const stream = response.body;
    return {
      body: stream ? iterate(stream) : (async function* () {})(),
      cancel: () => void stream?.cancel().catch(() => undefined),
    };
  };
}

async function* iterate(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

async function errorMessage(response: Response): Promise<string> {
  const text = (await response.text()).slice(0, 64 * 1024);
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof body.message === 'string') return body.message;
    if (typeof body.error === 'string') return body.error;
  } catch {
    // not JSON
  }
  return `HTTP ${response.status}`;
}

export function mcpRoutes(deps: Pick<ApiDeps, 'version'>, appFetch: AppFetch): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.post('/', async (c) => {
    const raw = await readLimitedBody(c.req.raw, MAX_MCP_BODY);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      return jsonRpcError(400, -32700, 'Parse error: the body is not JSON');
    }
    // Loaded at the first MCP request: the SDK (with ajv) is a good part of what hobd would load at start-up.
    const [{ createMcpServer }, { WebStandardStreamableHTTPServerTransport }] = await Promise.all([
      import('../../mcp/server.js'),
      import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
    ]);
    const server = createMcpServer({ api: new McpApi(inProcessFetch(appFetch, c)), scope: c.get('scope'), version: deps.version });
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw, { parsedBody: parsed });
    } finally {
      await server.close();
    }
  });
  const notAllowed = () => jsonRpcError(405, -32000, 'Method not allowed: this server is stateless; POST JSON-RPC messages to /mcp');
  router.get('/', notAllowed);
  router.delete('/', notAllowed);
  return router;
}
