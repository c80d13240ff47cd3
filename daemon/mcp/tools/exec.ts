/** Tool: exec, a command in a sandbox with a deadline and a cap on the output it returns. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { SandboxNameSchema } from '../../core/names.js';
import { ExecUser, HttpExecBody, HttpExecResult } from '../../wire/exec.js';
import { sandboxPath } from '../api.js';
import { addTool, textResult, type ToolContext } from '../context.js';

/** A command runs this long unless the call says otherwise. */
export const DEFAULT_EXEC_TIMEOUT_MS = 120_000;
/** Bytes of stdout and of stderr returned by default (the beginning of each is kept). */
export const DEFAULT_MAX_OUTPUT = 64 * 1024;
const MAX_OUTPUT = 1024 * 1024;
/** The exec answer holds each stream and their interleaving (4x max_output), JSON-escaped (at worst 6 bytes per byte). */
const MAX_EXEC_ANSWER = 4 * MAX_OUTPUT * 6 + 64 * 1024;

/** The tool's text: how it ended, then each stream, with any cut stated (hobd keeps the first `max_output` bytes of each). */
export function formatExec(result: HttpExecResult, timeoutMs: number): string {
  const lines: string[] = [];
  if (result.timed_out) lines.push(`timed out after ${timeoutMs / 1000} s and was killed (exit code ${result.exit_code})`);
  else if (result.signal !== null) lines.push(`killed by ${result.signal} (exit code ${result.exit_code})`);
  else lines.push(`exit code ${result.exit_code}`);
  for (const [stream, text, total] of [['stdout', result.stdout, result.stdout_bytes], ['stderr', result.stderr, result.stderr_bytes]] as const) {
    if (text === '' && !total) continue;
    lines.push(`--- ${stream} ---`, text.endsWith('\n') ? text.slice(0, -1) : text);
    const kept = Buffer.byteLength(text, 'utf8');
    if (total !== undefined && total > kept) lines.push(`[${stream} truncated: only its first ${kept} of ${total} bytes are shown]`);
  }
  if (result.truncated && result.stdout_bytes === undefined) lines.push('[output truncated]');
  return lines.join('\n');
}

export function registerExecTool(server: McpServer, ctx: ToolContext): void {
  addTool(
    server,
    'exec',
    {
      title: 'Run a command',
      description:
        'Runs a command in a sandbox (waking or starting it if needed) and returns its exit code, stdout and stderr. `command` is a shell line (run with sh -c) or an argv array. ' +
        `It is killed after \`timeout\` (seconds or a duration like "5m"; default ${DEFAULT_EXEC_TIMEOUT_MS / 1000} s). Only the first \`max_output_bytes\` (default ${DEFAULT_MAX_OUTPUT}) of each stream are returned, and the result says when more came.`,
      input: {
        name: SandboxNameSchema,
        command: HttpExecBody.shape.command,
        stdin: HttpExecBody.shape.stdin,
        env: HttpExecBody.shape.env,
        dir: HttpExecBody.shape.dir,
        timeout: HttpExecBody.shape.timeout,
        user: ExecUser.optional().describe("user name or uid; default the image's default user"),
        max_output_bytes: z.number().int().min(256).max(MAX_OUTPUT).optional(),
      },
      hints: { readOnly: false, destructive: true, idempotent: false },
    },
    async (args) => {
      const timeoutMs = args.timeout ?? DEFAULT_EXEC_TIMEOUT_MS;
      const limit = args.max_output_bytes ?? DEFAULT_MAX_OUTPUT;
      const result = await ctx.api.json('POST', sandboxPath(ctx.sandbox(args.name), '/exec'), HttpExecResult, {
        query: { user: args.user, max_output: limit },
        json: { command: args.command, stdin: args.stdin, env: args.env, dir: args.dir, timeout: `${timeoutMs}ms` },
      }, MAX_EXEC_ANSWER);
      return textResult(formatExec(result, timeoutMs));
    },
  );
}
