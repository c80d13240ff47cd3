/**
 * What every tool works with: the API (mcp/api.ts), the scope the server
 * applies before it calls it, and the shape of tool results.
 *
 * The scope here is the client side of docs/architecture.md §16: for `hob mcp
 * --prefix` on stdio it is the only guard (the socket itself is unscoped);
 * behind a scoped token the API enforces the same rules again, and this copy
 * only words the refusal earlier.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ServerNotification, ServerRequest, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type * as z from 'zod';
import { createRefusal, inScope, isScoped, type TokenScope } from '../auth/scope.js';
import { SpriteList, type SpriteObject } from '../wire/sprite.js';
import type { McpApi, ProgressNote } from './api.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export class ToolContext {
  constructor(
    readonly api: McpApi,
    readonly scope: TokenScope,
  ) {}

  /** `name`, if the scope reaches it; the API's own words for an unknown sandbox otherwise. */
  sandbox(name: string): string {
    if (!inScope(this.scope, name)) throw new Error(`no sandbox named "${name}"`);
    return name;
  }

  /** Every sandbox the scope sees (all pages of the list). */
  async sandboxes(prefix?: string): Promise<SpriteObject[]> {
    const all: SpriteObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.api.json('GET', '/v1/sandboxes', SpriteList, { query: { prefix: prefix ?? this.scope.prefix ?? undefined, continuation_token: token } });
      all.push(...page.sprites.filter((s) => inScope(this.scope, s.name)));
      token = page.has_more ? (page.next_continuation_token ?? undefined) : undefined;
    } while (token !== undefined);
    return all;
  }

  /** Refuses a new sandbox `name` the scope does not allow (prefix, count). */
  async admitNew(name: string): Promise<void> {
    if (!isScoped(this.scope)) return;
    const refusal = createRefusal(this.scope, name, new Set(this.scope.maxSandboxes === null ? [] : (await this.sandboxes()).map((s) => s.name)));
    if (refusal !== undefined) throw new Error(refusal);
  }
}

/** Progress notifications for a long operation, when the client asked for them (they also keep its request timeout from firing). */
export function progressOf(extra: ToolExtra): (note: ProgressNote) => void {
  const token = extra._meta?.progressToken;
  if (token === undefined) return () => undefined;
  return (note) => {
    void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: note.index + 1, message: note.text } }).catch(() => undefined);
  };
}

export function textResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }] };
}

export function jsonResult(value: unknown): CallToolResult {
  return textResult(JSON.stringify(value, null, 2));
}

export function errorResult(err: unknown): CallToolResult {
  return { content: [{ type: 'text', text: err instanceof Error ? err.message : String(err) }], isError: true };
}

/** The three hints every hob tool states. */
export interface Hints {
  readonly readOnly: boolean;
  readonly destructive: boolean;
  readonly idempotent: boolean;
}

/**
 * Registers a tool whose input is validated with `shape` (fields of the API's
 * own schemas in daemon/wire/) and whose failures are tool errors
 * (`isError: true` with the message), never protocol errors.
 */
export function addTool<Shape extends z.ZodRawShape>(
  server: McpServer,
  name: string,
  definition: { readonly title: string; readonly description: string; readonly input: Shape; readonly hints: Hints },
  handler: (args: z.output<z.ZodObject<Shape>>, extra: ToolExtra) => Promise<CallToolResult>,
): void {
  const annotations: ToolAnnotations = {
    title: definition.title,
    readOnlyHint: definition.hints.readOnly,
    destructiveHint: definition.hints.destructive,
    idempotentHint: definition.hints.idempotent,
    openWorldHint: false,
  };
  server.registerTool(name, { title: definition.title, description: definition.description, inputSchema: definition.input, annotations }, (async (args: z.output<z.ZodObject<Shape>>, extra: ToolExtra) => {
    try {
      return await handler(args, extra);
    } catch (err) {
      return errorResult(err);
    }
  }) as never);
}

export const READ_ONLY: Hints = { readOnly: true, destructive: false, idempotent: true };
