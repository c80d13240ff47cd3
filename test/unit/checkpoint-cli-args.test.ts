/**
 * Checkpoints, restore, fork and diff: the API's input schemas and the CLI's
 * argument handling and output formatting (pure parsing, no hobd).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointBody, CheckpointRefSchema, CheckpointSourceSchema, DiffQuery, ForkBody, ListCheckpointsQuery } from '../../daemon/wire/checkpoints.js';
import { queryObject } from '../../daemon/wire/request-primitives.js';
import { CreateSandboxBody } from '../../daemon/wire/sprite-requests.js';
import { toCheckpointObject } from '../../daemon/api/routes/checkpoints.js';
import { checkCheckpointRef, checkCheckpointSource, nameAndRef, splitNameAndRefs } from '../../daemon/cli/checkpoint-refs.js';
import { checkpointTable } from '../../daemon/cli/commands/checkpoints.js';
import { diffSummary, formatDiffEntry, splitDiffOperands } from '../../daemon/cli/commands/diff.js';
import { createBody } from '../../daemon/cli/commands/sandboxes.js';
import type { CliContext } from '../../daemon/cli/context.js';
import { UsageError } from '../../daemon/cli/errors.js';
import { createProgram, runCli } from '../../daemon/cli/program.js';
import { capturedIo } from '../helpers/cli-io.js';

const query = (qs: string) => queryObject(new URLSearchParams(qs));

describe('checkpoint API inputs', () => {
  it('accepts vN ids and uids, nothing else', () => {
    for (const ok of ['v1', 'v42', 'v999999999', 'abcd1234', 'k3j4h5g6f7']) expect(CheckpointRefSchema.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['v0', 'v01', 'V1', 'v1x', '', 'abc', '1abcdefgh', '../v1', 'v1/../x', 'a'.repeat(33), 'v-1', 'v1 ']) {
      expect(CheckpointRefSchema.safeParse(bad).success, bad).toBe(false);
    }
  });

  it('parses SRC:vN into sandbox and checkpoint', () => {
    expect(CheckpointSourceSchema.parse('dev:v3')).toEqual({ sandbox: 'dev', checkpoint: 'v3' });
    for (const bad of ['dev', 'dev:', ':v3', 'Dev:v3', 'dev:v3:v4', 'dev:x']) expect(CheckpointSourceSchema.safeParse(bad).success, bad).toBe(false);
  });

  it('takes from on create, not together with image', () => {
    expect(CreateSandboxBody.parse({ name: 'copy', from: 'dev:v2' }).from).toEqual({ sandbox: 'dev', checkpoint: 'v2' });
    const both = CreateSandboxBody.safeParse({ name: 'copy', from: 'dev:v2', image: 'dev' });
    expect(both.success).toBe(false);
    expect(both.error?.issues[0]?.message).toMatch(/image or from/);
  });

  it('parses checkpoint, list, fork and diff inputs', () => {
    expect(CheckpointBody.parse({})).toEqual({});
    expect(CheckpointBody.parse({ comment: 'before upgrade', memory: true })).toEqual({ comment: 'before upgrade', memory: true });
    expect(CheckpointBody.safeParse({ comment: 'x'.repeat(1025) }).success).toBe(false);
    expect(CheckpointBody.safeParse({ comment: 'a\0b' }).success).toBe(false);
    expect(CheckpointBody.safeParse({ memory: 'yes' }).success).toBe(false);

    expect(ListCheckpointsQuery.parse(query('includeAuto=true&history=v3'))).toMatchObject({ includeAuto: true });
    expect(ListCheckpointsQuery.parse(query('include_auto=1'))).toMatchObject({ include_auto: true });
    expect(ListCheckpointsQuery.safeParse(query('includeAuto=maybe')).success).toBe(false);

    expect(ForkBody.parse({ name: 'copy', from: 'v2' })).toEqual({ name: 'copy', from: 'v2' });
    expect(ForkBody.safeParse({ name: 'Copy' }).success).toBe(false);
    expect(ForkBody.safeParse({ name: 'copy', from: 'latest' }).success).toBe(false);

    expect(DiffQuery.parse(query('from=v1&to=current&path=/root/./a/../b/'))).toEqual({ from: 'v1', to: 'current', path: '/root/b' });
    expect(DiffQuery.parse(query('from=v1&to=v2&file=/etc/hosts'))).toEqual({ from: 'v1', to: 'v2', file: '/etc/hosts' });
    expect(DiffQuery.parse(query('from=v1&path=/../../etc')).path).toBe('/etc');
    for (const bad of ['to=v2', 'from=v1&path=root', 'from=v1&path=/a&file=/b', 'from=v1&file=/a%00b', `from=v1&path=/${'a'.repeat(4096)}`, 'from=v1&to=now']) {
      expect(DiffQuery.safeParse(query(bad)).success, bad).toBe(false);
    }
  });

  it('shows checkpoints in the Sprites shape with hob fields', () => {
    const object = toCheckpointObject({ id: 'v3', uid: 'abcdefgh12', sandbox: 'dev', comment: 'c', kind: 'live', auto: true, createdAt: '2025-01-02T03:04:05.000Z', sizeBytes: null });
    expect(object).toEqual({ id: 'v3', create_time: '2025-01-02T03:04:05.000Z', comment: 'c', is_auto: true, kind: 'live', size_bytes: null });
  });
});

describe('checkpoint CLI arguments', () => {
  it('checks ids and --from', async () => {
    expect(checkCheckpointRef('v7')).toBe('v7');
    expect(() => checkCheckpointRef('7')).toThrow(UsageError);
    expect(checkCheckpointSource('dev:v3')).toBe('dev:v3');
    expect(() => checkCheckpointSource('dev')).toThrow(/SANDBOX:CHECKPOINT/);
    expect(() => checkCheckpointSource('Dev:v3')).toThrow(/invalid sandbox name "Dev"/);
    expect(await createBody('copy', { from: 'dev:v3' })).toEqual({ name: 'copy', from: 'dev:v3' });
    await expect(createBody('copy', { from: 'dev:v3', image: 'dev' })).rejects.toThrow(/--image or --from/);
  });

  it('splits [NAME] ID... using .hob only when the first word looks like an id', () => {
    expect(splitNameAndRefs(['dev', 'v1', 'v2'], false)).toEqual({ name: 'dev', refs: ['v1', 'v2'] });
    expect(splitNameAndRefs(['dev', 'v1'], true)).toEqual({ name: 'dev', refs: ['v1'] });
    expect(splitNameAndRefs(['v1', 'v2'], true)).toEqual({ name: undefined, refs: ['v1', 'v2'] });
    expect(splitNameAndRefs(['v1'], false)).toEqual({ name: undefined, refs: ['v1'] });
    // A sandbox named like an id, without a .hob: it is the sandbox.
    expect(splitNameAndRefs(['v1', 'v2'], false)).toEqual({ name: 'v1', refs: ['v2'] });
    expect(() => splitNameAndRefs(['dev'], true)).toThrow(/no checkpoint given after the sandbox dev/);
    expect(() => splitNameAndRefs([], true)).toThrow(UsageError);
    expect(nameAndRef('v2', undefined)).toEqual({ name: undefined, ref: 'v2' });
    expect(nameAndRef('dev', 'v2')).toEqual({ name: 'dev', ref: 'v2' });
  });

  /** What commander hands the diff action: its operands and the raw words after `diff`. */
  async function diffOperands(args: string[]): Promise<{ operands: string[]; raw: string[]; opts: Record<string, unknown> }> {
    const ctx: CliContext = { io: capturedIo(), exitCode: 0 };
    const program = await createProgram(ctx);
    let seen: { operands: string[]; raw: string[]; opts: Record<string, unknown> } | undefined;
    class Stop extends Error {}
    program.hook('preAction', (_root: Command, action: Command) => {
      seen = { operands: [...action.args], raw: (action.parent?.args ?? []).slice(1), opts: action.opts() };
      throw new Stop();
    });
    await expect(program.parseAsync(args, { from: 'user' })).rejects.toBeInstanceOf(Stop);
    return seen!;
  }

  it('splits diff operands around --', async () => {
    const plain = await diffOperands(['diff', 'dev', 'v1', '--path', '/root']);
    expect(plain.opts).toMatchObject({ path: '/root' });
    expect(splitDiffOperands(plain.operands, plain.raw)).toEqual({ name: 'dev', from: 'v1', to: undefined, file: undefined });
    const two = await diffOperands(['diff', 'dev', 'v1', 'v2', '--json']);
    expect(splitDiffOperands(two.operands, two.raw)).toEqual({ name: 'dev', from: 'v1', to: 'v2', file: undefined });
    const file = await diffOperands(['diff', 'dev', 'v1', '--', '/etc/hosts']);
    expect(splitDiffOperands(file.operands, file.raw)).toEqual({ name: 'dev', from: 'v1', to: undefined, file: '/etc/hosts' });
    const fileTo = await diffOperands(['--json', 'diff', 'dev', 'v1', 'current', '--', '/etc/hosts']);
    expect(splitDiffOperands(fileTo.operands, fileTo.raw)).toEqual({ name: 'dev', from: 'v1', to: undefined, file: '/etc/hosts' });
    const tooMany = await diffOperands(['diff', 'dev', 'v1', 'v2', '/etc/hosts']);
    expect(() => splitDiffOperands(tooMany.operands, tooMany.raw)).toThrow(/too many arguments/);
    const relative = await diffOperands(['diff', 'dev', 'v1', '--', 'hosts']);
    expect(() => splitDiffOperands(relative.operands, relative.raw)).toThrow(/absolute path/);
  });

  it('registers the commands and the checkpoints alias', async () => {
    const ls = await diffOperands(['checkpoints', 'dev', '--all']);
    expect(ls.opts).toMatchObject({ all: true });
    const create = await diffOperands(['checkpoint', 'create', 'dev', '-m', 'before', '--memory']);
    expect(create.opts).toMatchObject({ comment: 'before', memory: true });
    const fork = await diffOperands(['fork', 'dev', 'copy', '--from', 'v2']);
    expect(fork.operands).toEqual(['dev', 'copy']);
    expect(fork.opts).toMatchObject({ from: 'v2' });
  });
});

describe('checkpoint CLI usage errors', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it.each([
    [['checkpoint', 'info', 'dev', 'latest'], /"latest" is not a checkpoint id/],
    [['checkpoint', 'rm', 'dev'], /no checkpoint given after the sandbox dev/],
    [['restore', 'dev', 'x1'], /"x1" is not a checkpoint id/],
    [['fork', 'dev', 'Copy'], /invalid sandbox name "Copy"/],
    [['fork', 'dev', 'copy', '--from', 'head'], /"head" is not a checkpoint id/],
    [['diff', 'dev', 'v1', '--path', 'root'], /--path must be an absolute path/],
    [['diff', 'dev', 'v1', '--path', '/a', '--', '/b'], /--path or -- FILE/],
    [['create', 'copy', '--from', 'dev'], /--from takes SANDBOX:CHECKPOINT/],
    [['checkpoint', 'create', 'dev', '-m', 'long'], /at most 1024/],
  ])('%j exits 2 before talking to hobd', async (given, message) => {
    // A comment over the limit, without putting 1025 characters into the test's name.
    const args = given.map((a) => (a === 'long' ? 'x'.repeat(1025) : a));
    const dir = mkdtempSync(join(tmpdir(), 'hob-ckpt-args-'));
    dirs.push(dir);
    const io = capturedIo({ cwd: dir, env: { HOB_SOCKET: '/nonexistent/hob.sock' } });
    const code = await runCli(args, io);
    expect(io.stderrText()).toMatch(message);
    expect(code).toBe(2);
    expect(io.stdoutText()).toBe('');
  });

  it('takes ids after rm from .hob when the first word is an id, then fails on the missing daemon', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hob-ckpt-args-'));
    dirs.push(dir);
    writeFileSync(join(dir, '.hob'), '{"sandbox":"dev"}\n');
    const io = capturedIo({ cwd: dir, env: { HOB_SOCKET: '/nonexistent/hob.sock' } });
    expect(await runCli(['checkpoint', 'rm', 'v1', 'v2'], io)).toBe(3);
    expect(io.stderrText()).toMatch(/hobd is not running/);
  });
});

describe('checkpoint CLI output', () => {
  it('prints the checkpoint table with auto ones marked', () => {
    const now = new Date('2025-01-01T12:00:00Z');
    const table = checkpointTable(
      [
        { id: 'v1', create_time: '2025-01-01T11:58:00Z', comment: 'first', is_auto: false, kind: 'disk', size_bytes: 1536 },
        { id: 'v2', create_time: '2025-01-01T11:59:30Z', comment: '', is_auto: true, kind: 'live', size_bytes: null },
      ],
      now,
    );
    expect(table.split('\n')).toEqual(['ID   KIND          CREATED   SIZE      COMMENT', 'v1   disk          2m ago    1.5 KiB   first', 'v2   live (auto)   30s ago   -', '']);
  });

  it('prints diff lines and a summary', () => {
    const entries = [
      { path: '/root/new.txt', change: 'added', type: 'file', sizeBefore: null, sizeAfter: 1229 },
      { path: '/etc/hosts', change: 'modified', type: 'file', sizeBefore: 120, sizeAfter: 140 },
      { path: '/root/old', change: 'deleted', type: 'directory', sizeBefore: 4096, sizeAfter: null },
    ];
    expect(entries.map(formatDiffEntry).join('')).toBe('A  /root/new.txt  (1.2 KiB)\nM  /etc/hosts  (120 B → 140 B)\nD  /root/old/\n');
    expect(diffSummary(entries, 'v1', 'current')).toBe('3 changes (1 added, 1 modified, 1 deleted) between v1 and current\n');
    expect(diffSummary([], 'v1', 'v2')).toBe('no changes between v1 and v2\n');
  });
});
