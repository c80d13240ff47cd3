/** Tools: create_sandbox, list_sandboxes, sandbox_info, destroy_sandbox. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { SandboxNameSchema } from '../../core/names.js';
import { CreateSandboxBody, ListSandboxesQuery } from '../../wire/sprite-requests.js';
import { SpriteObject } from '../../wire/sprite.js';
import { sandboxPath } from '../api.js';
import { addTool, jsonResult, progressOf, READ_ONLY, textResult, type ToolContext } from '../context.js';

/** What an agent needs of a sandbox (the full object is sandbox_info's). */
export function summary(s: SpriteObject): Record<string, unknown> {
  return { name: s.name, state: s.state, cpus: s.cpus, memory_mib: s.memory_mib, disk_bytes: s.disk_bytes, image: s.image, url: s.url, forked_from: s.forked_from };
}

const config = CreateSandboxBody.shape.config.unwrap().shape;

export function registerSandboxTools(server: McpServer, ctx: ToolContext): void {
  addTool(
    server,
    'create_sandbox',
    {
      title: 'Create a sandbox',
      description: 'Creates and boots a new sandbox (a Linux microVM with its own disk) and waits until it runs. Give `from: "SRC:vN"` to start from a checkpoint of another sandbox instead of an image.',
      input: {
        name: SandboxNameSchema.check(z.describe('DNS label: a-z, 0-9 and -')),
        image: CreateSandboxBody.shape.image,
        from: CreateSandboxBody.shape.from,
        cpus: config.cpus,
        memory_mb: config.ram_mb,
        disk_gb: config.storage_gb,
        environment: CreateSandboxBody.shape.environment,
      },
      hints: { readOnly: false, destructive: false, idempotent: false },
    },
    async (args, extra) => {
      if (args.from !== undefined) ctx.sandbox(args.from.sandbox);
      await ctx.admitNew(args.name);
      const body = {
        name: args.name,
        ...(args.image !== undefined ? { image: args.image } : {}),
        ...(args.from !== undefined ? { from: `${args.from.sandbox}:${args.from.checkpoint}` } : {}),
        config: { cpus: args.cpus, ram_mb: args.memory_mb, storage_gb: args.disk_gb },
        ...(args.environment !== undefined ? { environment: args.environment } : {}),
      };
      const last = await ctx.api.progress('POST', '/v1/sandboxes', { json: body }, progressOf(extra));
      const created = SpriteObject.parse(last);
      return jsonResult({ created: summary(created) });
    },
  );

  addTool(
    server,
    'list_sandboxes',
    {
      title: 'List sandboxes',
      description: 'Lists the sandboxes this server may see, with their state (running, paused, hibernated, stopped, ...).',
      input: { prefix: ListSandboxesQuery.shape.prefix },
      hints: READ_ONLY,
    },
    async (args) => {
      const rows = (await ctx.sandboxes(args.prefix)).map(summary);
      return rows.length === 0 ? textResult('no sandboxes') : jsonResult(rows);
    },
  );

  addTool(
    server,
    'sandbox_info',
    { title: 'Sandbox details', description: 'Everything about one sandbox: state, size, image, URL, idle and checkpoint settings, where it was forked from.', input: { name: SandboxNameSchema }, hints: READ_ONLY },
    async (args) => jsonResult(await ctx.api.json('GET', sandboxPath(ctx.sandbox(args.name)), SpriteObject)),
  );

  addTool(
    server,
    'destroy_sandbox',
    {
      title: 'Destroy a sandbox',
      description: 'Stops a sandbox and deletes it with its disk and every checkpoint. Cannot be undone.',
      input: { name: SandboxNameSchema },
      hints: { readOnly: false, destructive: true, idempotent: true },
    },
    async (args) => {
      await ctx.api.empty('DELETE', sandboxPath(ctx.sandbox(args.name)));
      return textResult(`destroyed ${args.name}`);
    },
  );
}
