/**
 * Checkpoints and what is built on them:
 *
 * - `hob checkpoint create [NAME] [-m COMMENT] [--memory]` (progress on stderr)
 * - `hob checkpoint ls [NAME] [--all]` (also `hob checkpoints [NAME] [--all]`)
 * - `hob checkpoint info [NAME] ID`
 * - `hob checkpoint rm [NAME] ID...`
 * - `hob checkpoint auto [NAME] --every 30m [--keep N]` / `--off`: automatic
 *   checkpoints while the sandbox runs (without options: shows the setting)
 * - `hob restore [NAME] ID` (the state before it is kept as an automatic checkpoint)
 * - `hob fork SRC NEW [--from vN]`
 * - `hob diff NAME FROM [TO] [--path P]`, or `hob diff NAME FROM [TO] -- FILE`
 *   for the unified text diff of one file
 *
 * NAME may be left out when a `.hob` names the sandbox. For `checkpoint rm`,
 * whose ids are variadic, a first operand of the form vN is taken as a
 * checkpoint id when a `.hob` exists (or when it is the only operand), else as
 * the sandbox. Every command has `--json`.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { CheckpointRefSchema, CheckpointSourceSchema } from '../../wire/checkpoints.js';
import { parseResponse, readLimited } from '../client.js';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { findDefaultSandbox } from '../dotfile.js';
import { ExitCode, UsageError, describeFailure, formatFailureLine } from '../errors.js';
import { progressFor, runWithProgress } from '../operation.js';
import { formatBytes, formatFields, formatSince, formatTable, printJson, terminalSafe } from '../output.js';
import { SandboxObject } from '../schemas.js';
import { checkSandboxName, formatDurationSeconds, parseDurationSeconds, parsePositiveInt } from '../units.js';
import * as wire from '../../wire/checkpoints.js';

// ---------------------------------------------------------------- response shapes (wire/checkpoints.ts)

/** A checkpoint as read: `is_auto`, `kind` and `size_bytes` are absent from older hobd versions. */
export const CheckpointObject = wire.CheckpointObject.partial({ is_auto: true, kind: true, size_bytes: true });
export type CheckpointObject = z.infer<typeof CheckpointObject>;

/** Last line of the checkpoint stream. */
const CheckpointComplete = wire.CheckpointComplete.extend({ checkpoint: CheckpointObject }).partial({ data: true, time: true });

/** Last line of the restore stream. */
const RestoreComplete = wire.RestoreComplete.partial({ data: true, time: true });

export const DiffEntryObject = wire.DiffEntryObject;
export type DiffEntryObject = wire.DiffEntryObject;

/** `truncated` is absent from older hobd versions. */
const DiffResult = wire.DiffResponse.partial({ truncated: true });

/** Largest text diff read. */
const MAX_TEXT_DIFF = 64 * 1024 * 1024;

// ---------------------------------------------------------------- arguments

/** A checkpoint id as typed ("v3", or a uid). @throws UsageError. */
export function checkCheckpointRef(text: string): string {
  if (!CheckpointRefSchema.safeParse(text).success) throw new UsageError(`"${text}" is not a checkpoint id (such as v3; see hob checkpoint ls)`);
  return text;
}

/** `--from SRC:vN` of `hob create`, checked; returned as the API's `from` string. @throws UsageError. */
export function checkCheckpointSource(text: string): string {
  const parsed = CheckpointSourceSchema.safeParse(text);
  if (!parsed.success) {
    const colon = text.indexOf(':');
    if (colon > 0) checkSandboxName(text.slice(0, colon));
    throw new UsageError(`--from takes SANDBOX:CHECKPOINT, e.g. dev:v3 (got "${text}")`);
  }
  return `${parsed.data.sandbox}:${parsed.data.checkpoint}`;
}

const VERSION_ID = /^v[1-9][0-9]*$/;

/**
 * `[NAME] ID...` → sandbox (undefined: from `.hob`) and checkpoint ids. A first
 * operand of the form vN is an id when `hasDefault` (a `.hob` exists) or when it
 * is alone; otherwise the first operand is the sandbox. Ids are not checked here.
 * @throws UsageError when no id is left.
 */
export function splitNameAndRefs(operands: readonly string[], hasDefault: boolean): { name: string | undefined; refs: string[] } {
  const [first, ...rest] = operands;
  if (first === undefined) throw new UsageError('no checkpoint given (see hob checkpoint ls)');
  if (VERSION_ID.test(first) && (hasDefault || rest.length === 0)) return { name: undefined, refs: [...operands] };
  if (rest.length === 0) throw new UsageError(`no checkpoint given after the sandbox ${first} (see hob checkpoint ls ${first})`);
  return { name: first, refs: rest };
}

/** `[NAME] ID` → sandbox (undefined: from `.hob`) and id, by count. */
/** `[NAME] ID` as typed: the sandbox (from .hob when omitted) and a validated checkpoint ref. */
async function sandboxAndCheckpoint(first: string, second: string | undefined, ctx: CliContext): Promise<{ name: string; ref: string }> {
  const parsed = nameAndRef(first, second);
  const ref = checkCheckpointRef(parsed.ref);
  return { name: await sandboxName(parsed.name, ctx), ref };
}

export function nameAndRef(first: string, second: string | undefined): { name: string | undefined; ref: string } {
  return second === undefined ? { name: undefined, ref: first } : { name: first, ref: second };
}

export interface DiffOperands {
  readonly name: string;
  readonly from: string;
  /** undefined: the sandbox's current disk. */
  readonly to: string | undefined;
  /** The file after `--`, for a text diff. */
  readonly file: string | undefined;
}

/**
 * `NAME FROM [TO] [-- FILE]`. `operands` are commander's (without `--`), `raw`
 * the words after the command name as typed (with `--`). TO may be "current".
 * @throws UsageError.
 */
export function splitDiffOperands(operands: readonly string[], raw: readonly string[]): DiffOperands {
  const dash = raw.indexOf('--');
  const after = dash < 0 ? 0 : raw.length - dash - 1;
  const before = operands.slice(0, operands.length - after);
  const files = operands.slice(operands.length - after);
  if (files.length > 1) throw new UsageError('give one file after --');
  if (before.length < 2) throw new UsageError('usage: hob diff NAME FROM [TO] [--path P | -- FILE]');
  if (before.length > 3) throw new UsageError(`too many arguments: hob diff NAME FROM [TO] (a file goes after --)`);
  const [name, from, to] = before as [string, string, string | undefined];
  const file = files[0];
  if (file !== undefined) checkGuestPath(file, 'the file');
  return {
    name: checkSandboxName(name),
    from: checkCheckpointRef(from),
    to: to === undefined || to === 'current' ? undefined : checkCheckpointRef(to),
    file,
  };
}

function checkGuestPath(path: string, what: string): string {
  if (!path.startsWith('/') || path.includes('\0') || path.length > 4096) throw new UsageError(`${what} must be an absolute path in the sandbox (got "${path}")`);
  return path;
}

/** Automatic checkpoints kept when `--keep` is not given and none were set: hob's default (core's DEFAULT_AUTO_KEEP). */
export const DEFAULT_AUTO_KEEP = 5;

/** The API's automatic-checkpoint setting (`auto_checkpoint` of the sandbox object). */
export interface AutoCheckpointSetting {
  readonly interval_minutes: number;
  readonly keep: number;
}

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

/** `every 30m, the last 5 kept`, or `off`. */
export function autoCheckpointText(setting: AutoCheckpointSetting | null | undefined): string {
  return setting ? `every ${formatDurationSeconds(setting.interval_minutes * 60)}, the last ${setting.keep} kept` : 'off';
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

const CHANGE_LETTER: Readonly<Record<string, string>> = { added: 'A', modified: 'M', deleted: 'D' };

/** One line of `hob diff`: `A  /root/new.txt  (1.2 KiB)`, `M  /etc/hosts  (120 B → 140 B)`, `D  /root/old/`. */
export function formatDiffEntry(e: DiffEntryObject): string {
  const letter = CHANGE_LETTER[e.change] ?? '?';
  const shownPath = e.type === 'directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  let size = '';
  if (e.type !== 'directory') {
    if (e.change === 'added' && e.sizeAfter !== null) size = formatBytes(e.sizeAfter);
    else if (e.change === 'deleted' && e.sizeBefore !== null) size = formatBytes(e.sizeBefore);
    else if (e.change === 'modified' && e.sizeBefore !== null && e.sizeAfter !== null) {
      size = e.sizeBefore === e.sizeAfter ? formatBytes(e.sizeAfter) : `${formatBytes(e.sizeBefore)} → ${formatBytes(e.sizeAfter)}`;
    }
  }
  return `${letter}  ${terminalSafe(shownPath)}${size === '' ? '' : `  (${size})`}\n`;
}

/** The last line of `hob diff`: `3 changes (1 added, 1 modified, 1 deleted) between v1 and current`. */
export function diffSummary(entries: readonly DiffEntryObject[], from: string, to: string): string {
  if (entries.length === 0) return `no changes between ${from} and ${to}\n`;
  const count = (change: string) => entries.filter((e) => e.change === change).length;
  const parts = [`${count('added')} added`, `${count('modified')} modified`, `${count('deleted')} deleted`];
  return `${entries.length} change${entries.length === 1 ? '' : 's'} (${parts.join(', ')}) between ${from} and ${to}\n`;
}

/** Said on stderr when the daemon capped the list, so stdout keeps the usual lines. */
export function diffTruncatedNote(listed: number): string {
  return `hob: only the first ${listed} changes (by path) are listed, the diff has more: narrow it with --path\n`;
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

  addCommonOptions(
    program
      .command('restore')
      .description('bring a sandbox back to a checkpoint (the state before is kept as an automatic checkpoint)')
      .argument('<name-or-id>', 'sandbox, or the checkpoint id when .hob names the sandbox')
      .argument('[id]', 'checkpoint id (v1, v2, ...)'),
  ).action(async (first: string, second: string | undefined, _o: unknown, cmd: Command) => {
    const { name, ref } = await sandboxAndCheckpoint(first, second, ctx);
    const value = await runWithProgress(
      clientFor(cmd, ctx),
      'POST',
      sandboxPath(name, `/checkpoints/${encodeURIComponent(ref)}/restore`),
      {},
      progressFor(cmd, ctx),
    );
    const done = parseResponse(RestoreComplete, value, 'restore');
    if (wantsJson(cmd)) return printJson(out, { sandbox: name, checkpoint: ref, message: done.data ?? `Restored to ${ref}` });
    out.write(`${name}: ${done.data ?? `Restored to ${ref}`}\n`);
    out.write(`the state before the restore was kept as an automatic checkpoint; see it with: hob checkpoint ls --all ${name}\n`);
  });

  addCommonOptions(
    program
      .command('fork')
      .description('create a new sandbox from another one\'s current state or one of its checkpoints')
      .argument('<source>', 'sandbox to fork')
      .argument('<new>', 'name of the new sandbox')
      .option('--from <id>', 'fork this checkpoint of the source instead of its current state'),
  ).action(async (sourceText: string, newText: string, o: { from?: string }, cmd: Command) => {
    const source = checkSandboxName(sourceText);
    const body: Record<string, unknown> = { name: checkSandboxName(newText) };
    if (o.from !== undefined) body.from = checkCheckpointRef(o.from);
    const value = await runWithProgress(clientFor(cmd, ctx), 'POST', sandboxPath(source, '/fork'), { json: body }, progressFor(cmd, ctx));
    const sandbox = parseResponse(SandboxObject, value, 'fork');
    if (wantsJson(cmd)) return printJson(out, sandbox);
    out.write(`forked ${source}${o.from !== undefined ? ` at ${o.from}` : ''} into ${sandbox.name}: ${sandbox.state}\n`);
    out.write(`open a shell with: hob console ${sandbox.name}\n`);
  });

  addCommonOptions(
    program
      .command('diff')
      .description('list the files changed between a checkpoint and a later one or the current disk; with -- FILE, the text diff of one file')
      .usage('[options] NAME FROM [TO] [-- FILE]')
      .argument('<name>', 'sandbox')
      .argument('<from>', 'older checkpoint (v1, v2, ...)')
      .argument('[to...]', 'newer checkpoint (default: the current disk), then optionally -- FILE')
      .option('--path <path>', 'only changes at or under this absolute path'),
  ).action(async (_name: string, _from: string, _to: string[], o: { path?: string }, cmd: Command) => {
    // The words after `diff` as typed, to find `--` (commander drops it from the operands).
    const raw = (cmd.parent?.args ?? []).slice(1);
    const d = splitDiffOperands(cmd.args, raw);
    if (o.path !== undefined && d.file !== undefined) throw new UsageError('give --path or -- FILE, not both');
    const path = o.path === undefined ? undefined : checkGuestPath(o.path, '--path');
    const client = clientFor(cmd, ctx);
    const to = d.to ?? 'current';
    if (d.file !== undefined) {
      const res = await client.send('GET', sandboxPath(d.name, '/diff'), { query: { from: d.from, to: d.to, file: d.file }, headers: { accept: 'text/plain' } });
      const text = (await readLimited(res, MAX_TEXT_DIFF)).toString('utf8');
      if (wantsJson(cmd)) return printJson(out, { from: d.from, to, file: d.file, diff: text });
      if (text === '') ctx.io.stderr.write(`${d.file} is the same in ${d.from} and ${to}\n`);
      out.write(text);
      return;
    }
    const result = await client.json('GET', sandboxPath(d.name, '/diff'), DiffResult, { query: { from: d.from, to: d.to, path } });
    if (result.truncated) ctx.io.stderr.write(diffTruncatedNote(result.entries.length));
    if (wantsJson(cmd)) return printJson(out, result.entries);
    for (const e of result.entries) out.write(formatDiffEntry(e));
    out.write(diffSummary(result.entries, result.from, result.to));
  });
}
