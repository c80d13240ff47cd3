/**
 * The checkpoints of a sandbox (restore.ts, fork.ts and diff.ts build on them):
 *
 * - `hob checkpoint create [NAME] [-m COMMENT] [--memory]` (progress on stderr)
 * - `hob checkpoint ls [NAME] [--all]` (also `hob checkpoints [NAME] [--all]`)
 * - `hob checkpoint info [NAME] ID`
 * - `hob checkpoint rm [NAME] ID...`
 * - `hob checkpoint auto [NAME] --every 30m [--keep N]` / `--off`: automatic
 *   checkpoints while the sandbox runs (without options: shows the setting)
 *
 * NAME may be left out when a `.hob` names the sandbox. For `checkpoint rm`,
 * whose ids are variadic, a first operand of the form vN is taken as a
 * checkpoint id when a `.hob` exists (or when it is the only operand), else as
 * the sandbox. Every command has `--json`.
 */
import type { Command } from 'commander';
import * as z from 'zod';
import * as wire from '../../wire/checkpoints.js';
import { checkCheckpointRef, sandboxAndCheckpoint, splitNameAndRefs } from '../checkpoint-refs.js';
import { parseResponse } from '../client.js';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { findDefaultSandbox } from '../dotfile.js';
import { ExitCode, UsageError, describeFailure, formatFailureLine } from '../errors.js';
import { progressFor, runWithProgress } from '../operation.js';
import { formatBytes, formatFields, formatSince, formatTable, printJson } from '../output.js';
import { SandboxObject } from '../sandbox-schemas.js';
import { autoCheckpointText, type AutoCheckpointSetting } from '../settings-text.js';
import { formatDurationSeconds, parseDurationSeconds, parsePositiveInt } from '../units.js';

// ---------------------------------------------------------------- response shapes (wire/checkpoints.ts)

/** A checkpoint as read: `is_auto`, `kind` and `size_bytes` are absent from older hobd versions. */
export const CheckpointObject = wire.CheckpointObject.partial({ is_auto: true, kind: true, size_bytes: true });
export type CheckpointObject = z.infer<typeof CheckpointObject>;

/** Last line of the checkpoint stream. */
const CheckpointComplete = wire.CheckpointComplete.extend({ checkpoint: CheckpointObject }).partial({ data: true, time: true });

// ---------------------------------------------------------------- automatic checkpoints (`checkpoint auto`)

/** Automatic checkpoints kept when `--keep` is not given and none were set: hob's default (core's DEFAULT_AUTO_KEEP). */
export const DEFAULT_AUTO_KEEP = 5;

/**
 * The `auto_checkpoint` value `hob checkpoint auto` sends: `--every` in whole
 * minutes (1m to 7d) with `--keep` (default: the current setting's, else 5);
 * null for `--off`; undefined without options (show only).
 * `--keep` alone changes the count of an existing schedule. @throws UsageError.
 */
export function autoCheckpointUpdate(
  current: AutoCheckpointSetting | null | undefined,
  o: { every?: string; keep?: string; off?: boolean },
): AutoCheckpointSetting | null | undefined {
  if (o.off) {
    if (o.every !== undefined || o.keep !== undefined) throw new UsageError('--off goes alone (not with --every or --keep)');
    return null;
  }
  if (o.every === undefined && o.keep === undefined) return undefined;
  const keep = o.keep === undefined ? (current?.keep ?? DEFAULT_AUTO_KEEP) : parsePositiveInt(o.keep, '--keep');
  if (keep > 100) throw new UsageError(`--keep is at most 100 (got "${o.keep}")`);
  let minutes = current?.interval_minutes;
  if (o.every !== undefined) {
    const seconds = parseDurationSeconds(o.every, '--every');
    if (seconds % 60 !== 0 || seconds < 60 || seconds > 7 * 86_400) throw new UsageError(`--every is whole minutes from 1m to 7d (got "${o.every}")`);
    minutes = seconds / 60;
  }
  if (minutes === undefined) throw new UsageError('automatic checkpoints are off: give --every to turn them on');
  return { interval_minutes: minutes, keep };
}

// ---------------------------------------------------------------- output

/** The `hob checkpoint ls` table; automatic checkpoints are marked in KIND. */
export function checkpointTable(checkpoints: readonly CheckpointObject[], now: Date = new Date()): string {
  return formatTable(
    ['ID', 'KIND', 'CREATED', 'SIZE', 'COMMENT'],
    checkpoints.map((c) => [
      c.id,
      `${c.kind ?? 'disk'}${c.is_auto ? ' (auto)' : ''}`,
      formatSince(c.create_time, now),
      c.size_bytes === null || c.size_bytes === undefined ? '-' : formatBytes(c.size_bytes),
      c.comment,
    ]),
  );
}

/** The `hob checkpoint info` block. */
export function checkpointFields(c: CheckpointObject, sandbox: string, now: Date = new Date()): string {
  return formatFields([
    ['id', c.id],
    ['sandbox', sandbox],
    ['kind', c.kind === 'live' ? 'live (disk and memory)' : (c.kind ?? 'disk')],
    ['automatic', c.is_auto ? 'yes' : 'no'],
    ['created', `${c.create_time} (${formatSince(c.create_time, now)})`],
    ['size', c.size_bytes === null || c.size_bytes === undefined ? 'not measured yet' : `${formatBytes(c.size_bytes)} (freed by deleting it)`],
    ['comment', c.comment === '' ? undefined : c.comment],
  ]);
}

// ---------------------------------------------------------------- commands

export function registerCheckpointCommands(program: Command, ctx: CliContext): void {
  const out = ctx.io.stdout;

  const checkpoint = program.command('checkpoint').description('take, list, show and delete checkpoints of a sandbox');

  addCommonOptions(
    checkpoint
      .command('create')
      .description('take a checkpoint of a sandbox\'s disk (with --memory also of its memory)')
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('-m, --comment <text>', 'a note stored with the checkpoint')
      .option('--memory', 'also save the memory: restoring it resumes the running processes (needs a running sandbox)'),
  ).action(async (given: string | undefined, o: { comment?: string; memory?: boolean }, cmd: Command) => {
    const name = await sandboxName(given, ctx);
    const body: Record<string, unknown> = {};
    if (o.comment !== undefined) {
      if (o.comment.length > 1024) throw new UsageError('--comment is at most 1024 characters');
      body.comment = o.comment;
    }
    if (o.memory) body.memory = true;
    const value = await runWithProgress(clientFor(cmd, ctx), 'POST', sandboxPath(name, '/checkpoint'), { json: body }, progressFor(cmd, ctx));
    const done = parseResponse(CheckpointComplete, value, 'checkpoint');
    if (wantsJson(cmd)) return printJson(out, done.checkpoint);
    out.write(`${done.data ?? `Checkpoint ${done.id} created`}\n`);
  });

  const list = async (given: string | undefined, o: { all?: boolean }, cmd: Command): Promise<void> => {
    const name = await sandboxName(given, ctx);
    const checkpoints = await clientFor(cmd, ctx).json('GET', sandboxPath(name, '/checkpoints'), z.array(CheckpointObject), {
      query: { includeAuto: o.all ? true : undefined },
    });
    if (wantsJson(cmd)) return printJson(out, checkpoints);
    if (checkpoints.length === 0) {
      out.write(`${name} has no checkpoints${o.all ? '' : ' (--all also shows automatic ones)'}; take one with: hob checkpoint create ${name}\n`);
      return;
    }
    out.write(checkpointTable(checkpoints));
  };
  const listOptions = (cmd: Command) =>
    addCommonOptions(cmd.argument('[name]', 'sandbox (default: from .hob)').option('-a, --all', 'also list automatic checkpoints (taken before restores and on a schedule)'));

  listOptions(checkpoint.command('ls').alias('list').description('list the checkpoints of a sandbox, oldest first')).action(list);
  listOptions(program.command('checkpoints').description('list the checkpoints of a sandbox (same as hob checkpoint ls)')).action(list);

  addCommonOptions(
    checkpoint
      .command('info')
      .description('show one checkpoint')
      .argument('<name-or-id>', 'sandbox, or the checkpoint id when .hob names the sandbox')
      .argument('[id]', 'checkpoint id (v1, v2, ...)'),
  ).action(async (first: string, second: string | undefined, _o: unknown, cmd: Command) => {
    const { name, ref } = await sandboxAndCheckpoint(first, second, ctx);
    const c = await clientFor(cmd, ctx).json('GET', sandboxPath(name, `/checkpoints/${encodeURIComponent(ref)}`), CheckpointObject);
    if (wantsJson(cmd)) return printJson(out, c);
    out.write(checkpointFields(c, name));
  });

  addCommonOptions(
    checkpoint
      .command('rm')
      .alias('delete')
      .description('delete checkpoints (the sandbox itself is not touched)')
      .usage('[options] [NAME] ID...')
      .argument('<ids...>', '[NAME] then checkpoint ids; NAME may be left out when .hob names the sandbox'),
  ).action(async (operands: string[], _o: unknown, cmd: Command) => {
    const hasDefault = (await findDefaultSandbox(ctx.io.cwd)) !== undefined;
    const split = splitNameAndRefs(operands, hasDefault);
    const refs = split.refs.map(checkCheckpointRef);
    const name = await sandboxName(split.name, ctx);
    const client = clientFor(cmd, ctx);
    const removed: string[] = [];
    const failed: Array<{ id: string; message: string }> = [];
    for (const ref of refs) {
      try {
        await client.empty('DELETE', sandboxPath(name, `/checkpoints/${encodeURIComponent(ref)}`));
        removed.push(ref);
        if (!wantsJson(cmd)) out.write(`removed checkpoint ${ref} of ${name}\n`);
      } catch (err) {
        const { message, exitCode } = describeFailure(err);
        if (exitCode === ExitCode.Unreachable) throw err;
        failed.push({ id: ref, message });
        ctx.io.stderr.write(formatFailureLine(message));
      }
    }
    if (wantsJson(cmd)) printJson(out, { sandbox: name, removed, failed });
    if (failed.length > 0) ctx.exitCode = ExitCode.Failure;
  });

  addCommonOptions(
    checkpoint
      .command('auto')
      .description('take checkpoints automatically while the sandbox runs (without options: show the setting)')
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('--every <duration>', 'interval in whole minutes, e.g. 30m, 2h (at most 7d)')
      .option('--keep <n>', `automatic checkpoints kept, the oldest deleted beyond it (1 to 100, default ${DEFAULT_AUTO_KEEP})`)
      .option('--off', 'stop taking automatic checkpoints (the ones taken are kept)'),
  ).action(async (given: string | undefined, o: { every?: string; keep?: string; off?: boolean }, cmd: Command) => {
    // Check the options before anything is sent.
    autoCheckpointUpdate({ interval_minutes: 1, keep: DEFAULT_AUTO_KEEP }, o);
    const name = await sandboxName(given, ctx);
    const client = clientFor(cmd, ctx);
    let sandbox = await client.json('GET', sandboxPath(name), SandboxObject);
    const setting = autoCheckpointUpdate(sandbox.auto_checkpoint, o);
    if (setting !== undefined) sandbox = await client.json('PUT', sandboxPath(name), SandboxObject, { json: { auto_checkpoint: setting } });
    if (wantsJson(cmd)) return printJson(out, sandbox);
    out.write(`${sandbox.name}: automatic checkpoints ${autoCheckpointText(sandbox.auto_checkpoint)}\n`);
  });
}
