/**
 * `hob mcp`: an MCP server on stdio for coding agents (Claude Code: `claude mcp
 * add hob -- hob mcp`), a client of hobd like every command. `--prefix` and
 * `--max-sandboxes` limit what it lets the agent reach, client-side; a scoped
 * token (`hob token create --prefix`, with `--url`/`--token`) is enforced by hobd.
 */
import type { Command } from 'commander';
import { serveStdio } from '../../mcp/stdio.js';
import { MAX_SCOPE_SANDBOXES, ScopePrefixSchema } from '../../wire/tokens.js';
import { addCommonOptions, clientFor, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { cliVersion } from '../version.js';

export function registerMcpCommand(program: Command, ctx: CliContext): void {
  addCommonOptions(
    program
      .command('mcp')
      .description('serve the Model Context Protocol on stdin/stdout (for coding agents); JSON-RPC is its only output')
      .option('--prefix <prefix>', 'only let the agent see and create sandboxes whose names start with this')
      .option('--max-sandboxes <n>', 'only let the agent have this many sandboxes (under the prefix)'),
    { json: false },
  ).action(async (o: { prefix?: string; maxSandboxes?: string }, cmd: Command) => {
    if (o.prefix !== undefined && !ScopePrefixSchema.safeParse(o.prefix).success) {
      throw new UsageError('--prefix takes 1 to 62 lower-case letters, digits and -, not starting with -');
    }
    let max: number | null = null;
    if (o.maxSandboxes !== undefined) {
      if (!/^\d{1,5}$/.test(o.maxSandboxes) || Number(o.maxSandboxes) > MAX_SCOPE_SANDBOXES) throw new UsageError(`--max-sandboxes takes a whole number from 0 to ${MAX_SCOPE_SANDBOXES}`);
      max = Number(o.maxSandboxes);
    }
    await serveStdio({ client: clientFor(cmd, ctx), scope: { prefix: o.prefix ?? null, maxSandboxes: max }, version: cliVersion(), stdin: ctx.io.stdin, stdout: ctx.io.stdout });
  });
}
