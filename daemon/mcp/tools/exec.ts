/** Tool: exec, a command in a sandbox with a deadline and a cap on the output it returns. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { SandboxNameSchema } from '../../core/names.js';
import { ExecUser, HttpExecBody, HttpExecResult } from '../../wire/exec.js';
import { sandboxPath } from '../api.js';
import { addTool, textResult, type ToolContext } from '../context.js';

/** A command runs this long unless the call says otherwise. */
export const DEFAULT_EXEC_TIMEOUT_MS = 120_000;
/** Bytes of stdout and of stderr returned by default (the end of each is kept). */
export const DEFAULT_MAX_OUTPUT = 64 * 1024;
const MAX_OUTPUT = 1024 * 1024;

/** The last `limit` bytes of `text`, and how much was dropped from its beginning. */
export function tail(text: string, limit: number): { text: string; dropped: number; total: number } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return { text, dropped: 0, total: bytes.length };
  let start = bytes.length - limit;
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++; // not inside a UTF-8 character
  return { text: bytes.subarray(start).toString('utf8'), dropped: start, total: bytes.length };
}

/** The tool's text: how it ended, then each stream, with any truncation stated. */
export function formatExec(result: HttpExecResult, limit: number, timeoutMs: number): string {
  const lines: string[] = [];
  if (result.timed_out) lines.push(`timed out after ${timeoutMs / 1000} s and was killed (exit code ${result.exit_code})`);
  else if (result.signal !== null) lines.push(`killed by ${result.signal} (exit code ${result.exit_code})`);
  else lines.push(`exit code ${result.exit_code}`);
  for (const [stream, text] of [['stdout', result.stdout], ['stderr', result.stderr]] as const) {
    if (text === '') continue;
    const cut = tail(text, limit);
    lines.push(`--- ${stream} ---`, cut.text.endsWith('\n') ? cut.text.slice(0, -1) : cut.text);
    if (cut.dropped > 0) lines.push(`[${stream} truncated: only its last ${cut.total - cut.dropped} of ${cut.total} bytes are shown]`);
  }
  if (result.truncated) lines.push('[hob kept only the first 8 MiB of each stream]');
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
        `It is killed after \`timeout\` (seconds or a duration like "5m"; default ${DEFAULT_EXEC_TIMEOUT_MS / 1000} s). Each stream is cut to its last \`max_output_bytes\` (default ${DEFAULT_MAX_OUTPUT}), and the result says so.`,
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
      const result = await ctx.api.json('POST', sandboxPath(ctx.sandbox(args.name), '/exec'), HttpExecResult, {
        query: { user: args.user },
        json: { command: args.command, stdin: args.stdin, env: args.env, dir: args.dir, timeout: `${timeoutMs}ms` },
      });
      return textResult(formatExec(result, args.max_output_bytes ?? DEFAULT_MAX_OUTPUT, timeoutMs));
    },
  );
}
