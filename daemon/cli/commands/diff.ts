/**
 * `hob diff NAME FROM [TO] [--path P]`: the files changed between a checkpoint
 * and a later one or the current disk; `hob diff NAME FROM [TO] -- FILE`: the
 * unified text diff of one file. Both with `--json`.
 */
import type { Command } from 'commander';
import * as wire from '../../wire/checkpoints.js';
import { checkCheckpointRef } from '../checkpoint-refs.js';
import { readLimited } from '../client.js';
import { addCommonOptions, clientFor, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import { formatBytes, printJson, terminalSafe } from '../output.js';
import { checkSandboxName } from '../units.js';

export const DiffEntryObject = wire.DiffEntryObject;
export type DiffEntryObject = wire.DiffEntryObject;

/** `truncated` is absent from older hobd versions. */
const DiffResult = wire.DiffResponse.partial({ truncated: true });

/** Largest text diff read. */
const MAX_TEXT_DIFF = 64 * 1024 * 1024;

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

export function registerDiffCommand(program: Command, ctx: CliContext): void {
  const out = ctx.io.stdout;

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
