/**
 * The `hob` command tree, and `runCli`, which runs one command line and
 * returns the exit code (main.ts exits with it; tests call it directly).
 *
 * Options of hob itself (`--socket`, `--url`, `--token`, `--json`) may come
 * before the command or after it; the command's own options come after it.
 * Options before the command are read only up to the command name, so that
 * `hob exec NAME -- CMD -x` hands `-x` to CMD untouched.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { registerCheckpointCommands } from './commands/checkpoints.js';
import { registerConsoleLogCommand } from './commands/console-log.js';
import { registerCpCommand } from './commands/cp.js';
import { registerDaemonCommand } from './commands/daemon.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerDiffCommand } from './commands/diff.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerEventsCommand } from './commands/events.js';
import { registerExecCommands } from './commands/exec.js';
import { registerForkCommand } from './commands/fork.js';
import { registerImageCommands } from './commands/images.js';
import { registerTemplateCommands } from './commands/templates.js';
import { registerMcpCommand } from './commands/mcp.js';
import { registerPolicyCommand } from './commands/policy.js';
import { registerProxyCommand } from './commands/proxy.js';
import { registerRestoreCommand } from './commands/restore.js';
import { registerSandboxCommands } from './commands/sandboxes.js';
import { registerSecretCommands } from './commands/secrets.js';
import { registerServiceCommands } from './commands/services.js';
import { registerSessionCommands } from './commands/sessions.js';
import { registerSleepCommands } from './commands/sleep.js';
import { registerStatsCommand } from './commands/stats.js';
import { registerTokenCommands } from './commands/tokens.js';
import { registerUrlCommand } from './commands/url.js';
import { registerUseCommand } from './commands/use.js';
import { addCommonOptions, processIo, type CliContext, type CliIo } from './context.js';
import { ExitCode, describeFailure, formatFailureLine } from './errors.js';

/** hob's version, from package.json (two levels up in the source tree, three in dist/). */
export function cliVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'hob' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}

export function createProgram(ctx: CliContext): Command {
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

  registerSandboxCommands(program, ctx);
  registerExecCommands(program, ctx);
  registerSessionCommands(program, ctx);
  registerServiceCommands(program, ctx);
  registerSleepCommands(program, ctx);
  registerCheckpointCommands(program, ctx);
  registerRestoreCommand(program, ctx);
  registerForkCommand(program, ctx);
  registerDiffCommand(program, ctx);
  registerCpCommand(program, ctx);
  registerProxyCommand(program, ctx);
  registerUrlCommand(program, ctx);
  registerPolicyCommand(program, ctx);
  registerTokenCommands(program, ctx);
  registerEventsCommand(program, ctx);
  registerSecretCommands(program, ctx);
  registerStatsCommand(program, ctx);
  registerConsoleLogCommand(program, ctx);
  registerUseCommand(program, ctx);
  registerImageCommands(program, ctx);
  registerTemplateCommands(program, ctx);
  registerDaemonCommand(program, ctx);
  registerDashboardCommand(program, ctx);
  registerDoctorCommand(program, ctx);
  registerMcpCommand(program, ctx);
  return program;
}

/** Runs one command line (without the node and script arguments) and returns the exit code. Never throws. */
export async function runCli(args: readonly string[], io: CliIo = processIo()): Promise<number> {
  const ctx: CliContext = { io, exitCode: ExitCode.Ok };
  const program = createProgram(ctx);
  try {
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
