/** Tools: list_services, service_logs (processes the guest agent supervises). */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { SandboxNameSchema } from '../../core/names.js';
import { ServiceNameSchema } from '../../protocol/index.js';
import { ServiceLogEvent, ServiceObject } from '../../wire/services.js';
import { sandboxPath } from '../api.js';
import { addTool, jsonResult, READ_ONLY, textResult, type ToolContext } from '../context.js';

/** Largest log answer read (1000 lines of the guest's bounded line length fit). */
const MAX_LOG_BYTES = 4 * 1024 * 1024;

export function registerServiceTools(server: McpServer, ctx: ToolContext): void {
  addTool(
    server,
    'list_services',
    { title: 'List services', description: "The sandbox's services (supervised processes, restarted on crash and after a reboot) with their state.", input: { name: SandboxNameSchema }, hints: READ_ONLY },
    async (args) => {
      const list = await ctx.api.json('GET', sandboxPath(ctx.sandbox(args.name), '/services'), z.array(ServiceObject));
      if (list.length === 0) return textResult('no services');
      return jsonResult(list.map((s) => ({ name: s.name, cmd: [s.cmd, ...s.args].join(' '), status: s.state.status, pid: s.state.pid, restarts: s.state.restart_count, http_port: s.http_port, log_file: s.log_file })));
    },
  );

  addTool(
    server,
    'service_logs',
    {
      title: 'Service logs',
      description: "The last `lines` lines (default 100, at most 1000) of a service's output, stdout and stderr interleaved, with its start and exit events.",
      input: { name: SandboxNameSchema, service: ServiceNameSchema, lines: z.number().int().min(1).max(1000).optional() },
      hints: READ_ONLY,
    },
    async (args) => {
      const path = sandboxPath(ctx.sandbox(args.name), `/services/${encodeURIComponent(args.service)}/logs`);
      const { data, truncated } = await ctx.api.bytes('GET', path, MAX_LOG_BYTES, { query: { lines: args.lines ?? 100 } });
      const out: string[] = [];
      for (const line of data.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        let event: ServiceLogEvent;
        try {
          event = ServiceLogEvent.parse(JSON.parse(line));
        } catch {
          continue; // the cut last line
        }
        if (event.type === 'stdout' || event.type === 'stderr') out.push((event.data ?? '').replace(/\n$/, ''));
        else if (event.type === 'error') throw new Error(event.data ?? 'reading the log failed');
        else if (event.type !== 'complete') out.push(`[${event.type}${event.data ? `: ${event.data}` : ''}${event.exit_code !== undefined ? ` (exit code ${event.exit_code})` : ''}]`);
      }
      if (truncated) out.push('[truncated: the log answer was over 4 MiB]');
      return textResult(out.length === 0 ? 'no log lines' : out.join('\n'));
    },
  );
}
