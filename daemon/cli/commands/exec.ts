/**
 * Running commands in a sandbox: `hob exec` and `hob console`, over the exec
 * websocket (see ../exec-session.ts).
 *
 *   hob exec [NAME] [-t] [-i] [-e K=V]... [-w DIR] [-u USER] -- CMD ARGS...
 *   hob console [NAME] [-u USER]
 *
 * Both run as the image's default user (`hob` in the dev image, root in the
 * minimal one) unless `-u` names another (docs/architecture.md §5).
 *
 * NAME may be left out when a `.hob` names the sandbox, but then the command
 * must follow `--` (`hob exec -- ls -la`): without `--` the first word is
 * always the sandbox. Options of hob go before `--`; everything after it is
 * the command, untouched.
 *
 * Exit code: the remote command's (128 + n when signal n killed it); 255 when
 * hob itself failed (no such sandbox, hobd unreachable, connection lost), so
 * scripts can tell the two apart, as with ssh.
 */
import type { Command } from 'commander';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext, type CliIo } from '../context.js';
import { ExecUser, type PortEventFrame } from '../../wire/exec.js';
import { portHint } from '../port-hint.js';
import { findDefaultSandbox } from '../dotfile.js';
import { CliError, ExitCode, UsageError, formatFailureLine } from '../errors.js';
import { runSession, type SessionOutcome } from '../exec-session.js';
import { printJson } from '../output.js';
import { collect, parseEnvPairs } from '../units.js';
import type { Query } from '../client.js';

export interface ExecOptions {
  readonly tty?: boolean;
  readonly interactive?: boolean;
  readonly env?: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
}

/**
 * Splits exec's operands into sandbox and command. `raw` is what followed
 * `exec` on the command line, before commander removed the `--`.
 */
export function splitExecOperands(operands: readonly string[], raw: readonly string[]): { name: string | undefined; argv: string[] } {
  const dash = raw.indexOf('--');
  if (dash < 0) return { name: operands[0], argv: operands.slice(1) };
  const after = raw.length - dash - 1;
  const before = operands.length - after;
  if (before <= 0) return { name: undefined, argv: [...operands] };
  return { name: operands[0], argv: operands.slice(1) };
}

/**
 * `-u USER` as the exec API's `user` parameter; without it the sandbox's
 * default user (docs/architecture.md §5). Checked here with the API's own
 * schema so that a typo is a usage error before anything is sent.
 */
export function userParam(user: string | undefined): string | undefined {
  if (user === undefined) return undefined;
  const parsed = ExecUser.safeParse(user);
  if (!parsed.success) throw new UsageError(`-u: "${user}" is not a user name or uid (${parsed.error.issues[0]?.message ?? 'invalid'})`);
  return parsed.data;
}

/** The websocket query of an exec. */
export function execQuery(argv: readonly string[], o: ExecOptions, terminal: { forwardStdin: boolean; rows?: number; cols?: number }): Query {
  const env = parseEnvPairs(o.env ?? [], '-e');
  return {
    cmd: [...argv],
    user: userParam(o.user),
    tty: o.tty ? true : undefined,
    rows: o.tty ? terminal.rows : undefined,
    cols: o.tty ? terminal.cols : undefined,
    stdin: o.tty ? true : terminal.forwardStdin,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    dir: o.workdir,
  };
}

/** The login shell `hob console` starts: bash when the image has it, else sh. */
export const CONSOLE_COMMAND = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];

/** Makes an error of hob's own a 255 exit (see the module comment); usage errors stay 2. */
function asOwnFailure(err: unknown): unknown {
  if (err instanceof UsageError) return err;
  if (err instanceof CliError) return new CliError(err.message, ExitCode.RemoteCommandFailure, { cause: err });
  return err;
}

/** Applies a session's outcome to hob's exit code and stderr. */
export function settle(outcome: SessionOutcome, ctx: CliContext, name: string, interactive: boolean): void {
  switch (outcome.kind) {
    case 'exited':
      if (outcome.error) ctx.io.stderr.write(formatFailureLine(`the session ended without an exit status: ${outcome.error}`));
      ctx.exitCode = outcome.exitCode;
      return;
    case 'detached':
      ctx.io.stderr.write(
        `${interactive ? '\r\n' : ''}${formatFailureLine(`detached; the session keeps running. Re-attach with: hob sessions attach ${name} ${outcome.sessionId ?? '<id>'}`)}`,
      );
      ctx.exitCode = ExitCode.Ok;
      return;
    case 'interrupted':
      ctx.exitCode = 130;
      return;
    case 'lost':
      throw new CliError(outcome.reason, ExitCode.RemoteCommandFailure);
  }
}

/**
 * Prints a hint on stderr when a port opens or closes in the guest, if stderr
 * is a terminal (a script reading stderr gets only the command's). In raw
 * terminal mode the line ends with CR LF.
 */
function portHinter(io: CliIo, name: string, raw: boolean): ((event: PortEventFrame) => void) | undefined {
  if (io.stderr.isTTY !== true) return undefined;
  return (event) => io.stderr.write(`${raw ? '\r\n' : ''}${portHint(name, event)}${raw ? '\r\n' : '\n'}`);
}

export function registerExecCommands(program: Command, ctx: CliContext): void {
  const { io } = ctx;

  addCommonOptions(
    program
      .command('exec')
      .description('run a command in a sandbox: hob exec NAME -- CMD ARGS...')
      .argument('[name]', 'sandbox (may be left out with a .hob file; then put the command after --)')
      .argument('[command...]', 'the command and its arguments (after --)')
      .option('-t, --tty', 'allocate a terminal (raw mode, follows the window size)')
      .option('-i, --interactive', 'forward stdin even when it is a terminal')
      .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect)
      .option('-w, --workdir <dir>', 'working directory (absolute)')
      .option('-u, --user <user>', "run as this user (name or uid; default: the image's default user)"),
  ).action(async (_name: string | undefined, _command: string[], o: ExecOptions, cmd: Command) => {
    const raw = (cmd.parent?.args ?? []).slice(1);
    const split = splitExecOperands(cmd.args, raw);
    if (split.argv.length === 0) {
      const hint = split.name !== undefined && (await findDefaultSandbox(io.cwd).catch(() => undefined)) ? ` (with the .hob default: hob exec -- ${split.name})` : ' (for a shell: hob console NAME)';
      throw new UsageError(`no command given: hob exec NAME -- CMD ARGS...${hint}`);
    }
    const json = wantsJson(cmd);
    if (json && o.tty) throw new UsageError('--json and --tty do not go together (a terminal has no separate stdout and stderr)');
    const forwardStdin = o.tty ? true : o.interactive === true || io.stdin.isTTY !== true;
    const query = execQuery(split.argv, o, { forwardStdin, rows: io.stdout.rows, cols: io.stdout.columns });
    const name = await sandboxName(split.name, ctx);
    try {
      const socket = await clientFor(cmd, ctx).openWebSocket(sandboxPath(name, '/exec'), query);
      const outcome = await runSession({
        io,
        socket,
        tty: o.tty === true,
        forwardStdin,
        detachable: false,
        collect: json,
        sendInitialSize: false,
        onPortEvent: json ? undefined : portHinter(io, name, o.tty === true),
      });
      if (json && outcome.kind === 'exited') {
        printJson(io.stdout, {
          session_id: outcome.sessionId ?? null,
          exit_code: outcome.exitCode,
          signal: outcome.signal,
          error: outcome.error,
          stdout: outcome.stdout.toString('utf8'),
          stderr: outcome.stderr.toString('utf8'),
        });
      }
      settle(outcome, ctx, name, false);
    } catch (err) {
      throw asOwnFailure(err);
    }
  });

  addCommonOptions(
    program
      .command('console')
      .description('open a login shell in a sandbox (Ctrl+\\ detaches; the shell keeps running)')
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('-u, --user <user>', "log in as this user (name or uid; default: the image's default user)"),
    { json: false },
  ).action(async (given: string | undefined, o: { user?: string }, cmd: Command) => {
    if (io.stdin.isTTY !== true) throw new UsageError('console needs a terminal on stdin; for scripts use: hob exec NAME -- CMD');
    const user = userParam(o.user);
    const name = await sandboxName(given, ctx);
    try {
      const socket = await clientFor(cmd, ctx).openWebSocket(sandboxPath(name, '/exec'), {
        cmd: CONSOLE_COMMAND,
        user,
        tty: true,
        rows: io.stdout.rows,
        cols: io.stdout.columns,
        stdin: true,
      });
      if (io.stderr.isTTY) io.stderr.write(`connected to ${name}; Ctrl+\\ detaches\r\n`);
      const outcome = await runSession({
        io,
        socket,
        tty: true,
        forwardStdin: true,
        detachable: true,
        collect: false,
        sendInitialSize: false,
        onPortEvent: portHinter(io, name, true),
      });
      settle(outcome, ctx, name, true);
    } catch (err) {
      throw asOwnFailure(err);
    }
  });
}
