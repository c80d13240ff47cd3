/**
 * The hob command line as commander parses it: commands, options before and
 * after the command, `--` for exec, usage errors with exit code 2 and one
 * line on stderr. Programs are fresh per test; actions that would talk to
 * hobd are stopped by a preAction hook that records what they would get.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { splitExecOperands } from '../../daemon/cli/commands/exec.js';
import { clientFor, commonOptions, type CliContext } from '../../daemon/cli/context.js';
import { createProgram, runCli } from '../../daemon/cli/program.js';
import { capturedIo } from '../helpers/cli-io.js';

interface Captured {
  readonly command: string;
  readonly operands: string[];
  readonly opts: Record<string, unknown>;
  readonly common: ReturnType<typeof commonOptions>;
  readonly raw: string[];
}

class Stop extends Error {}

/** Parses `args` with a fresh program and returns what the action would have received. */
async function parse(args: string[], env: Record<string, string> = {}): Promise<Captured> {
  const io = capturedIo({ env });
  const ctx: CliContext = { io, exitCode: 0 };
  const program = await createProgram(ctx);
  let captured: Captured | undefined;
  program.hook('preAction', (_root: Command, action: Command) => {
    captured = {
      command: action.parent && action.parent !== program ? `${action.parent.name()} ${action.name()}` : action.name(),
      operands: [...action.args],
      opts: action.opts(),
      common: commonOptions(action),
      raw: [...(action.parent?.args ?? [])],
    };
    throw new Stop();
  });
  await expect(program.parseAsync(args, { from: 'user' })).rejects.toBeInstanceOf(Stop);
  return captured!;
}

describe('hob command line', () => {
  it('reads connection options before and after the command, the later winning', async () => {
    const before = await parse(['--socket', '/tmp/a.sock', 'ls']);
    expect(before.common.socket).toBe('/tmp/a.sock');
    const after = await parse(['ls', '--socket', '/tmp/b.sock', '--json']);
    expect(after.common).toMatchObject({ socket: '/tmp/b.sock', json: true });
    const both = await parse(['--socket', '/tmp/a.sock', 'ls', '--socket', '/tmp/b.sock']);
    expect(both.common.socket).toBe('/tmp/b.sock');
  });

  it('collects repeatable create options', async () => {
    const c = await parse(['create', 'dev', '--cpus', '2', '--memory', '2G', '--label', 'a', '--label', 'b', '--env', 'A=1', '--env', 'B=2']);
    expect(c.command).toBe('create');
    expect(c.operands).toEqual(['dev']);
    expect(c.opts).toMatchObject({ cpus: '2', memory: '2G', label: ['a', 'b'], env: ['A=1', 'B=2'] });
  });

  it('hands everything after -- to exec untouched, options of the command included', async () => {
    const c = await parse(['exec', 'dev', '-t', '-e', 'K=V', '-w', '/srv', '--', 'sh', '-c', 'exit 7', '--json']);
    expect(c.opts).toMatchObject({ tty: true, env: ['K=V'], workdir: '/srv' });
    expect(c.common.json).toBeUndefined();
    expect(splitExecOperands(c.operands, c.raw.slice(1))).toEqual({ name: 'dev', argv: ['sh', '-c', 'exit 7', '--json'] });
  });

  it('takes the first word after exec as the sandbox, or none when the command follows -- directly', async () => {
    const plain = await parse(['exec', 'dev', 'uname']);
    expect(splitExecOperands(plain.operands, plain.raw.slice(1))).toEqual({ name: 'dev', argv: ['uname'] });
    const dotfile = await parse(['exec', '--', 'ls', '-la']);
    expect(splitExecOperands(dotfile.operands, dotfile.raw.slice(1))).toEqual({ name: undefined, argv: ['ls', '-la'] });
    const global = await parse(['--socket', '/tmp/s', 'exec', '-i', '--', 'cat']);
    expect(global.common.socket).toBe('/tmp/s');
    expect(splitExecOperands(global.operands, global.raw.slice(1))).toEqual({ name: undefined, argv: ['cat'] });
  });

  it('parses nested commands', async () => {
    expect((await parse(['sessions', 'kill', 'dev', '12', '--signal', 'KILL'])).opts).toMatchObject({ signal: 'KILL' });
    expect((await parse(['sessions', 'kill', 'dev', '12'])).opts).toMatchObject({ signal: 'TERM' });
    expect((await parse(['token', 'create', '--name', 'ci'])).opts).toMatchObject({ name: 'ci' });
    expect((await parse(['images', 'build', '--variant', 'minimal'])).opts).toMatchObject({ variant: 'minimal' });
    expect((await parse(['images', 'build'])).opts).toMatchObject({ variant: 'dev' });
    expect((await parse(['rm', '-f', 'a', 'b'])).operands).toEqual(['a', 'b']);
  });

  it('picks the connection from flags, then HOB_URL, then HOB_SOCKET', async () => {
    const io = capturedIo({ env: { HOB_URL: 'http://127.0.0.1:7707', HOB_TOKEN: 'hob_x' } });
    const ctx: CliContext = { io, exitCode: 0 };
    const program = await createProgram(ctx);
    let target: unknown;
    program.hook('preAction', (_r: Command, action: Command) => {
      target = clientFor(action, ctx).target;
      throw new Stop();
    });
    await expect(program.parseAsync(['ls'], { from: 'user' })).rejects.toBeInstanceOf(Stop);
    expect(target).toMatchObject({ kind: 'tcp', token: 'hob_x' });
    await expect(program.parseAsync(['ls', '--socket', '/tmp/x.sock'], { from: 'user' })).rejects.toBeInstanceOf(Stop);
    expect(target).toEqual({ kind: 'unix', socketPath: '/tmp/x.sock' });
  });
});

describe('usage errors', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function run(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const io = capturedIo({ cwd: cwd ?? tmpdir(), env: { HOB_SOCKET: '/nonexistent/hob.sock' } });
    const code = await runCli(args, io);
    return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
  }

  it.each([
    [['bogus'], /unknown command 'bogus'/],
    [['ls', '--bogus'], /unknown option '--bogus'/],
    [['create'], /missing required argument 'name'/],
    [['create', 'Bad_Name'], /invalid sandbox name "Bad_Name"/],
    [['create', 'dev', '--memory', '2048'], /--memory needs a unit/],
    [['create', 'dev', '--disk', '1.5G'], /--disk must be a whole number of GiB/],
    [['create', 'dev', '--cpus', 'two'], /--cpus must be a positive whole number/],
    [['create', 'dev', '--env', 'NOVALUE'], /--env takes KEY=VALUE/],
    [['exec', 'dev'], /no command given/],
    [['exec', 'dev', '--json', '-t', '--', 'true'], /--json and --tty/],
    [['cp', 'a', 'b'], /one side of hob cp must be in a sandbox/],
    [['cp', 'Bad:x', '/tmp/x'], /invalid sandbox name "Bad"/],
    [['cp', 'dev:', '/tmp/x'], /give a path after the colon/],
    [['ls', '--socket', '/a', '--url', 'http://127.0.0.1:1'], /give --socket or --url, not both/],
    [['ls', '--url', 'ftp://x'], /only http:\/\/ URLs/],
    [['sessions', 'kill', 'dev', 'a b'], /is not a session id/],
    [['images', 'build', '--variant', 'huge'], /argument 'huge' is invalid/],
  ])('%j exits 2 with one line on stderr', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr.startsWith('hob: ')).toBe(true);
  });

  it('asks for a sandbox when neither NAME nor .hob gives one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hob-cli-args-'));
    dirs.push(dir);
    const r = await run(['info'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no sandbox given.*hob use NAME/);
  });

  it('takes the sandbox from .hob and then fails on the missing daemon with exit 3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hob-cli-args-'));
    dirs.push(dir);
    writeFileSync(join(dir, '.hob'), '{"sandbox":"dev"}\n');
    mkdirSync(join(dir, 'sub'));
    const r = await run(['info'], join(dir, 'sub'));
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('hob: hobd is not running (socket /nonexistent/hob.sock): start it with `systemctl start hobd` (or `hob daemon` where systemd is not running)\n');
  });

  it('makes hob\'s own failures in exec exit 255, apart from the remote command\'s codes', async () => {
    const r = await run(['exec', 'dev', '--', 'true']);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/^hob: hobd is not running/);
  });

  it('prints help and the version with exit 0', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: hob/);
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
