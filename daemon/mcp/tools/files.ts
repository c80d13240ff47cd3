/** Tools: read_file, write_file, list_files (the API's file routes; paths are absolute or relative to /). */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { SandboxNameSchema } from '../../core/names.js';
import { FileModeSchema, FsList, FsPathQuery, FsWriteQuery, FsWriteResult, formatMode } from '../../wire/fs.js';
import { sandboxPath } from '../api.js';
import { addTool, jsonResult, READ_ONLY, textResult, type ToolContext } from '../context.js';

export const DEFAULT_READ_BYTES = 256 * 1024;
const MAX_READ_BYTES = 4 * 1024 * 1024;
/** Largest file write_file takes (its content travels inside one JSON-RPC message). */
const MAX_WRITE_CHARS = 8 * 1024 * 1024;

/** Text unless it has NUL bytes or is not UTF-8. */
function isText(data: Buffer): boolean {
  return !data.includes(0) && Buffer.from(data.toString('utf8'), 'utf8').equals(data);
}

export function registerFileTools(server: McpServer, ctx: ToolContext): void {
  addTool(
    server,
    'read_file',
    {
      title: 'Read a file',
      description: `Reads a file from a sandbox: text as is, anything else base64-encoded. At most \`max_bytes\` (default ${DEFAULT_READ_BYTES}) are returned, and the result says when the file is longer.`,
      input: { name: SandboxNameSchema, path: FsPathQuery.shape.path, max_bytes: z.number().int().min(1).max(MAX_READ_BYTES).optional() },
      hints: READ_ONLY,
    },
    async (args) => {
      const limit = args.max_bytes ?? DEFAULT_READ_BYTES;
      const { data, truncated } = await ctx.api.bytes('GET', sandboxPath(ctx.sandbox(args.name), '/fs/read'), limit, { query: { path: args.path } });
      // A cut may split a UTF-8 character: judge the text without the last few bytes then.
      const text = isText(truncated ? data.subarray(0, Math.max(0, data.length - 3)) : data);
      const note = truncated ? `\n[truncated: only the first ${data.length} bytes of the file are shown]` : '';
      if (text) return textResult(data.toString('utf8') + note);
      return textResult(`[binary file, ${data.length} bytes, base64]\n${data.toString('base64')}${note}`);
    },
  );

  addTool(
    server,
    'write_file',
    {
      title: 'Write a file',
      description: 'Writes a file in a sandbox, replacing it atomically if it exists, and creates missing parent directories. `encoding: "base64"` for binary content.',
      input: {
        name: SandboxNameSchema,
        path: FsWriteQuery.shape.path,
        content: z.string().max(MAX_WRITE_CHARS),
        encoding: z.enum(['utf8', 'base64']).optional(),
        mode: FileModeSchema.optional().describe('octal such as "0644"'),
      },
      hints: { readOnly: false, destructive: true, idempotent: true },
    },
    async (args) => {
      const body = Buffer.from(args.content, args.encoding === 'base64' ? 'base64' : 'utf8');
      const written = await ctx.api.json('PUT', sandboxPath(ctx.sandbox(args.name), '/fs/write'), FsWriteResult, {
        query: { path: args.path, mkdirParents: true, ...(args.mode !== undefined ? { mode: formatMode(args.mode) } : {}) },
        body,
      });
      return textResult(`wrote ${written.size} bytes to ${written.path} (mode ${written.mode})`);
    },
  );

  addTool(
    server,
    'list_files',
    {
      title: 'List a directory',
      description: 'Lists a directory of a sandbox (name, type, size, mode, modification time); a file lists itself.',
      input: { name: SandboxNameSchema, path: FsPathQuery.shape.path },
      hints: READ_ONLY,
    },
    async (args) => {
      const list = await ctx.api.json('GET', sandboxPath(ctx.sandbox(args.name), '/fs/list'), FsList, { query: { path: args.path } });
      return jsonResult({ path: list.path, entries: list.entries.map((e) => ({ name: e.name, type: e.type, size: e.size, mode: e.mode, modTime: e.modTime })) });
    },
  );
}
