/**
 * The `hob` command tree, and `runCli`, which runs one command line and
 * returns the exit code (main.ts exits with it; tests call it directly).
 *
 * Options of hob itself (`--socket`, `--url`, `--token`, `--json`) may come
 * before the command or after it; the command's own options come after it.
 * Options before the command are read only up to the command name, so that
 * `hob exec NAME -- CMD -x` hands `-x` to CMD untouched.
 */
import { Command, CommanderError } from 'commander';
import { addCommonOptions, processIo, type CliContext, type CliIo } from './io.js';
import { ExitCode, describeFailure, formatFailureLine } from './errors.js';
import { cliVersion } from './version.js';

export { cliVersion } from './version.js';

type Register = (program: Command, ctx: CliContext) => void;

/**
 * Every command module, in the order of `hob --help`, with the top-level
 * names (aliases included) it registers. A command line that names one of
 * them loads only that module: the others, and what they import (the MCP
 * SDK, the doctor's probes, hobd itself), stay unloaded, which is most of
 * hob's start-up time (docs/architecture.md §23).
 * test/unit/cli-lazy.test.ts checks the names against what each module registers.
 */
export const COMMAND_MODULES: ReadonlyArray<{ readonly names: readonly string[]; readonly load: () => Promise<Register> }> = [
  { names: ['create', 'ls', 'list', 'info', 'rm', 'remove', 'start', 'stop'], load: async () => (await import('./commands/sandboxes.js')).registerSandboxCommands },
  { names: ['exec', 'console'], load: async () => (await import('./commands/exec.js')).registerExecCommands },
  { names: ['sessions'], load: async () => (await import('./commands/sessions.js')).registerSessionCommands },
  { names: ['services', 'service', 'logs'], load: async () => (await import('./commands/services.js')).registerServiceCommands },
  { names: ['sleep', 'wake', 'keep-awake', 'idle'], load: async () => (await import('./commands/sleep.js')).registerSleepCommands },
  { names: ['checkpoint', 'checkpoints'], load: async () => (await import('./commands/checkpoints.js')).registerCheckpointCommands },
  { names: ['restore'], load: async () => (await import('./commands/restore.js')).registerRestoreCommand },
  { names: ['fork'], load: async () => (await import('./commands/fork.js')).registerForkCommand },
  { names: ['diff'], load: async () => (await import('./commands/diff.js')).registerDiffCommand },
  { names: ['cp'], load: async () => (await import('./commands/cp.js')).registerCpCommand },
  { names: ['proxy'], load: async () => (await import('./commands/proxy.js')).registerProxyCommand },
  { names: ['url'], load: async () => (await import('./commands/url.js')).registerUrlCommand },
  { names: ['policy'], load: async () => (await import('./commands/policy.js')).registerPolicyCommand },
  { names: ['token', 'tokens'], load: async () => (await import('./commands/tokens.js')).registerTokenCommands },
  { names: ['events'], load: async () => (await import('./commands/events.js')).registerEventsCommand },
  { names: ['secrets', 'secret'], load: async () => (await import('./commands/secrets.js')).registerSecretCommands },
  { names: ['stats'], load: async () => (await import('./commands/stats.js')).registerStatsCommand },
  { names: ['console-log'], load: async () => (await import('./commands/console-log.js')).registerConsoleLogCommand },
  { names: ['use'], load: async () => (await import('./commands/use.js')).registerUseCommand },
  { names: ['images', 'image'], load: async () => (await import('./commands/images.js')).registerImageCommands },
  { names: ['templates', 'template'], load: async () => (await import('./commands/templates.js')).registerTemplateCommands },
  { names: ['daemon'], load: async () => (await import('./commands/daemon.js')).registerDaemonCommand },
  { names: ['dashboard'], load: async () => (await import('./commands/dashboard.js')).registerDashboardCommand },
  { names: ['doctor'], load: async () => (await import('./commands/doctor.js')).registerDoctorCommand },
  { names: ['mcp'], load: async () => (await import('./commands/mcp.js')).registerMcpCommand },
];

/** hob's own options that take a value (see addCommonOptions). */
const VALUE_OPTIONS = new Set(['--socket', '--url', '--token']);

/**
 * The modules a command line needs: the one registering its command word;
 * none for a bare `--version`; all of them for help, an unknown word (its
 * "Did you mean" needs every name) or anything this reading is unsure of.
 */
export function modulesFor(args: readonly string[]): ReadonlyArray<(typeof COMMAND_MODULES)[number]> {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg === '--json' || [...VALUE_OPTIONS].some((o) => arg.startsWith(`${o}=`))) continue;
    if (arg === '-V' || arg === '--version') return [];
    if (arg.startsWith('-')) return COMMAND_MODULES;
    const owner = COMMAND_MODULES.find((m) => m.names.includes(arg));
    return owner ? [owner] : COMMAND_MODULES;
  }
  return COMMAND_MODULES;
}

/**
 * The command tree: with `args`, only the commands that line needs (the
 * result parses it exactly as the whole tree would); without, all of them.
 */
export async function createProgram(ctx: CliContext, args?: readonly string[]): Promise<Command> {
  const program = new Command('hob');
  program
    .description('persistent Linux sandboxes as microVMs on this machine')
    .version(cliVersion(), '-V, --version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
      // Commander's own errors (unknown option, missing argument) in hob's one-line form.
      // Commander puts its "(Did you mean ...?)" on a line of its own: keep it on the one line.
      outputError: (text, write) => write(formatFailureLine(text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' '))),
    })
    .showSuggestionAfterError(true);
  addCommonOptions(program);

  const modules = args === undefined ? COMMAND_MODULES : modulesFor(args);
  const registers = await Promise.all(modules.map((m) => m.load()));
  for (const register of registers) register(program, ctx);
  return program;
}

/** Runs one command line (without the node and script arguments) and returns the exit code. Never throws. */
export async function runCli(args: readonly string[], io: CliIo = processIo()): Promise<number> {
  const ctx: CliContext = { io, exitCode: ExitCode.Ok };
  try {
    const program = await createProgram(ctx, args);
    await program.parseAsync([...args], { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version "fail" with exit code 0; real parse errors were already printed.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    const { message, exitCode } = describeFailure(err);
    io.stderr.write(formatFailureLine(message));
    return exitCode;
  }
}
