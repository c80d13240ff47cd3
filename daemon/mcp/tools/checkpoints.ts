/** Tools: create_checkpoint, list_checkpoints, restore_checkpoint, fork_sandbox, diff. */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { SandboxNameSchema } from '../../core/names.js';
import { CheckpointBody, CheckpointComplete, CheckpointObject, CheckpointRefSchema, DiffQuery, DiffResponse, ForkBody } from '../../wire/checkpoints.js';
import { SpriteObject } from '../../wire/sprite.js';
import { sandboxPath } from '../api.js';
import { addTool, jsonResult, progressOf, READ_ONLY, textResult, type ToolContext } from '../context.js';
import { summary } from './sandboxes.js';

/** Largest unified diff of one file returned. */
const MAX_FILE_DIFF = 256 * 1024;

export function registerCheckpointTools(server: McpServer, ctx: ToolContext): void {
  addTool(
    server,
    'create_checkpoint',
    {
      title: 'Checkpoint a sandbox',
      description: "Saves the sandbox's disk (and with `memory: true` its running memory) as a checkpoint vN, in milliseconds; the sandbox keeps running. Take one before anything risky.",
      input: { name: SandboxNameSchema, comment: CheckpointBody.shape.comment, memory: CheckpointBody.shape.memory },
      hints: { readOnly: false, destructive: false, idempotent: false },
    },
    async (args, extra) => {
      const last = await ctx.api.progress('POST', sandboxPath(ctx.sandbox(args.name), '/checkpoint'), { json: { comment: args.comment, memory: args.memory } }, progressOf(extra));
      const done = CheckpointComplete.parse(last);
      return jsonResult({ checkpoint: done.checkpoint });
    },
  );

  addTool(
    server,
    'list_checkpoints',
    {
      title: 'List checkpoints',
      description: "A sandbox's checkpoints, oldest first; `include_auto` adds those hob took by itself (before a restore, on a schedule).",
      input: { name: SandboxNameSchema, include_auto: z.boolean().optional() },
      hints: READ_ONLY,
    },
    async (args) => {
      const list = await ctx.api.json('GET', sandboxPath(ctx.sandbox(args.name), '/checkpoints'), z.array(CheckpointObject), { query: { includeAuto: args.include_auto } });
      return list.length === 0 ? textResult('no checkpoints') : jsonResult(list);
    },
  );

  addTool(
    server,
    'restore_checkpoint',
    {
      title: 'Restore a checkpoint',
      description: 'Puts the sandbox back to a checkpoint: its disk (and memory, for a memory checkpoint) become what they were; running processes end. The state before is kept as an automatic checkpoint.',
      input: { name: SandboxNameSchema, checkpoint: CheckpointRefSchema },
      hints: { readOnly: false, destructive: true, idempotent: false },
    },
    async (args, extra) => {
      const path = sandboxPath(ctx.sandbox(args.name), `/checkpoints/${encodeURIComponent(args.checkpoint)}/restore`);
      const last = (await ctx.api.progress('POST', path, {}, progressOf(extra))) as { data?: unknown };
      return textResult(`${args.name}: ${typeof last.data === 'string' ? last.data : `restored to ${args.checkpoint}`}; the state before was kept as an automatic checkpoint`);
    },
  );

  addTool(
    server,
    'fork_sandbox',
    {
      title: 'Fork a sandbox',
      description: "Creates a new sandbox from another one's current disk, or from one of its checkpoints (`from`), sharing blocks until they change. The fork gets its own hostname and identity.",
      input: { name: SandboxNameSchema.check(z.describe('the sandbox to fork')), new_name: ForkBody.shape.name, from: ForkBody.shape.from },
      hints: { readOnly: false, destructive: false, idempotent: false },
    },
    async (args, extra) => {
      const source = ctx.sandbox(args.name);
      await ctx.admitNew(args.new_name);
      const last = await ctx.api.progress('POST', sandboxPath(source, '/fork'), { json: { name: args.new_name, from: args.from } }, progressOf(extra));
      return jsonResult({ forked: summary(SpriteObject.parse(last)) });
    },
  );

  const diff = DiffQuery.shape;
  addTool(
    server,
    'diff',
    {
      title: 'What changed since a checkpoint',
      description: 'Lists the files added, modified and deleted between a checkpoint and now (or another checkpoint, `to`), optionally under `path`; with `file`, the unified diff of that one file.',
      input: { name: SandboxNameSchema, from: diff.from, to: diff.to, path: diff.path, file: diff.file },
      hints: READ_ONLY,
    },
    async (args) => {
      if (args.path !== undefined && args.file !== undefined) throw new Error('give path or file, not both');
      const path = sandboxPath(ctx.sandbox(args.name), '/diff');
      const query = { from: args.from, to: args.to, path: args.path, file: args.file };
      if (args.file !== undefined) {
        const { data, truncated } = await ctx.api.bytes('GET', path, MAX_FILE_DIFF, { query });
        const text = data.toString('utf8');
        return textResult((text === '' ? `${args.file} is the same in both` : text) + (truncated ? `\n[truncated: only the first ${MAX_FILE_DIFF} bytes of the diff are shown]` : ''));
      }
      const result = await ctx.api.json('GET', path, DiffResponse, { query });
      const lines = result.entries.map((e) => `${e.change[0]?.toUpperCase() ?? '?'}  ${e.path}${e.type === 'directory' ? '/' : ''}`);
      if (result.truncated) lines.push('[truncated: more changes than listed]');
      return textResult(lines.length === 0 ? `no changes between ${result.from} and ${result.to}` : lines.join('\n'));
    },
  );
}
