/**
 * The CLI loads only the command module its command line names
 * (daemon/cli/program.ts COMMAND_MODULES): the table must list exactly the
 * names each module registers, and a program built for one command line must
 * print the same help and usage errors as the whole tree.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../../daemon/cli/context.js';
import { describeFailure, formatFailureLine } from '../../daemon/cli/errors.js';
import { COMMAND_MODULES, createProgram, modulesFor, runCli } from '../../daemon/cli/program.js';
import { capturedIo } from '../helpers/cli-io.js';

/** Runs a command line through a program of every command, as hob did before it loaded lazily. */
async function runWhole(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capturedIo({ env: { HOB_SOCKET: '/nonexistent/hob.sock' } });
  const ctx: CliContext = { io, exitCode: 0 };
  const program = await createProgram(ctx);
  let code = 0;
  try {
    await program.parseAsync(args, { from: 'user' });
    code = ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) code = err.exitCode === 0 ? 0 : 2;
    else {
      const failure = describeFailure(err);
      io.stderr.write(formatFailureLine(failure.message));
      code = failure.exitCode;
    }
  }
  return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
}

async function runLazy(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = capturedIo({ env: { HOB_SOCKET: '/nonexistent/hob.sock' } });
  const code = await runCli(args, io);
  return { code, stdout: io.stdoutText(), stderr: io.stderrText() };
}

describe('lazily loaded commands', () => {
  it('lists, for each module, exactly the top-level names and aliases it registers', async () => {
    const seen = new Set<string>();
    for (const m of COMMAND_MODULES) {
      const program = new Command('hob');
      (await m.load())(program, { io: capturedIo(), exitCode: 0 });
      const registered = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
      expect([...registered].sort()).toEqual([...m.names].sort());
      for (const name of registered) {
        expect(seen.has(name), `${name} is registered twice`).toBe(false);
        seen.add(name);
      }
    }
  });

  it('has an entry for every register function in daemon/cli/commands/ (a command added the old way would load only on the full-tree path)', async () => {
    const loaded = new Set(await Promise.all(COMMAND_MODULES.map((m) => m.load())));
    const dir = join(import.meta.dirname, '../../daemon/cli/commands');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const mod = (await import(join(dir, file))) as Record<string, unknown>;
      for (const [name, value] of Object.entries(mod)) {
        if (name.startsWith('register') && typeof value === 'function') expect(loaded.has(value as never), `${file}: ${name}`).toBe(true);
      }
    }
  });

  it('picks the module of the command word, past hob options and their values', () => {
    const only = (args: string[]) => modulesFor(args).map((m) => m.names[0]);
    expect(only(['ls'])).toEqual(['create']);
    expect(only(['--socket', '/tmp/x.sock', '--json', 'exec', 'dev', '--', 'ls'])).toEqual(['exec']);
    expect(only(['--url=http://127.0.0.1:1', 'token', 'ls'])).toEqual(['token']);
    expect(only(['image', 'ls'])).toEqual(['images']);
    expect(modulesFor(['--version'])).toHaveLength(0);
    expect(modulesFor(['-V'])).toHaveLength(0);
    for (const whole of [[], ['--help'], ['-h'], ['help', 'ls'], ['bogus'], ['--socket'], ['--bogus', 'ls']]) expect(modulesFor(whole)).toBe(COMMAND_MODULES);
  });

  it('prints the same help and usage errors as the whole command tree', async () => {
    const lines: string[][] = [['--help'], ['--version'], ['bogus'], ['lss'], ['ls', '--bogus'], ['create'], ['exec', 'dev'], ['help', 'exec']];
    for (const m of COMMAND_MODULES) for (const name of m.names) lines.push([name, '--help']);
    lines.push(['checkpoint', 'create', '--help'], ['services', 'logs', '--help'], ['token', 'bogus'], ['--socket', '/tmp/x', 'sessions', 'kill', '--help']);
    for (const args of lines) {
      const lazy = await runLazy(args);
      const whole = await runWhole(args);
      expect({ args, ...lazy }).toEqual({ args, ...whole });
    }
  });
});
