/**
 * hob's MCP server (docs/architecture.md §16): one McpServer with every tool,
 * built on the official SDK, talking to hob only through its API (mcp/api.ts).
 * The stdio command (`hob mcp`) and the streamable HTTP endpoint of hobd
 * (`POST /mcp`) both build it here.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { describeScope, isScoped, type TokenScope } from '../auth/scope.js';
import type { McpApi } from './api.js';
import { ToolContext } from './context.js';
import { registerCheckpointTools } from './tools/checkpoints.js';
import { registerExecTool } from './tools/exec.js';
import { registerFileTools } from './tools/files.js';
import { registerNetworkTools } from './tools/network.js';
import { registerSandboxTools } from './tools/sandboxes.js';
import { registerServiceTools } from './tools/services.js';

export interface McpServerOptions {
  readonly api: McpApi;
  /** What the client may reach; UNSCOPED for all of hob. */
  readonly scope: TokenScope;
  readonly version: string;
}

export function createMcpServer(options: McpServerOptions): McpServer {
  const scoped = isScoped(options.scope) ? ` This server is limited to ${describeScope(options.scope)}.` : '';
  const server = new McpServer(
    { name: 'hob', version: options.version },
    {
      instructions:
        'hob runs persistent Linux sandboxes (microVMs) on this machine. Create one, run commands and edit files in it, checkpoint it before risky steps and restore when things break, fork it to try alternatives.' +
        scoped,
    },
  );
  const ctx = new ToolContext(options.api, options.scope);
  registerSandboxTools(server, ctx);
  registerExecTool(server, ctx);
  registerFileTools(server, ctx);
  registerCheckpointTools(server, ctx);
  registerNetworkTools(server, ctx);
  registerServiceTools(server, ctx);
  return server;
}
