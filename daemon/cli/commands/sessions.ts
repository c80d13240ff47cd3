/**
 * Exec sessions: `hob sessions ls | attach | kill`. A session is a process
 * started by exec or console; TTY sessions outlive their connection (detach
 * with Ctrl+\, attach again later).
 *
 * NAME may be left out when a `.hob` names the sandbox: `hob sessions attach ID`.
 */
import type { Command } from 'commander';
import { ProgressLine } from '../client.js';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { runSession } from '../exec-session.js';
import { formatSince, formatTable, printJson } from '../output.js';
import { KillLine, SessionList, type SessionListing } from '../schemas.js';
import { settle } from './exec.js';

/** `[NAME] ID` → name (maybe from .hob) and id. */
function nameAndId(first: string, second: string | undefined): { name: string | undefined; id: string } {
  return second === undefined ? { name: undefined, id: first } : { name: first, id: second };
}

function checkSessionId(id: string): string {
  if (!/^[0-9A-Za-z_-]{1,64}$/.test(id)) throw new UsageError(`"${id}" is not a session id (see hob sessions ls)`);
  return id;
}

export function sessionTable(sessions: readonly SessionListing[], now: Date = new Date()): string {
  return formatTable(
    ['ID', 'COMMAND', 'TTY', 'CLIENTS', 'CREATED', 'STATE'],
    sessions.map((s) => [
      s.id,
      s.command.length > 60 ? `${s.command.slice(0, 57)}...` : s.command,
      s.tty ? 'yes' : 'no',
      String(s.attached ?? (s.is_active ? 1 : 0)),
      formatSince(s.created, now),
      s.exited ? `exited (${s.exit_code ?? '?'})` : 'running',
    ]),
  );
}

export function registerSessionCommands(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const sessions = program.command('sessions').description('list, attach to and kill exec sessions');

  addCommonOptions(sessions.command('ls').alias('list').description('list the sessions of a sandbox').argument('[name]', 'sandbox (default: from .hob)')).action(
    async (given: string | undefined, _o: unknown, cmd: Command) => {
      const name = await sandboxName(given, ctx);
      const res = await clientFor(cmd, ctx).json('GET', sandboxPath(name, '/exec'), SessionList);
      if (wantsJson(cmd)) return printJson(io.stdout, res.sessions);
      io.stdout.write(sessionTable(res.sessions));
    },
  );

  addCommonOptions(
    sessions
      .command('attach')
      .description('attach to a session (Ctrl+\\ detaches from a TTY session)')
      .argument('<name-or-id>', 'sandbox, or the session id when .hob names the sandbox')
      .argument('[id]', 'session id')
      .option('-i, --interactive', 'forward stdin to a non-TTY session'),
    { json: false },
  ).action(async (first: string, second: string | undefined, o: { interactive?: boolean }, cmd: Command) => {
    const parsed = nameAndId(first, second);
    const id = checkSessionId(parsed.id);
    const name = await sandboxName(parsed.name, ctx);
    try {
      const socket = await clientFor(cmd, ctx).openWebSocket(sandboxPath(name, `/exec/${encodeURIComponent(id)}`));
      // Whether the session is a TTY is only known from its session_info: forward stdin
      // when it is (and ours is a terminal), or when asked to.
      const terminal = io.stdin.isTTY === true;
      const outcome = await runSession({ io, socket, tty: false, forwardStdin: (tty) => o.interactive === true || (tty && terminal), detachable: true, collect: false, sendInitialSize: true });
      settle(outcome, ctx, name, terminal);
    } catch (err) {
      if (err instanceof CliError && !(err instanceof UsageError)) throw new CliError(err.message, ExitCode.RemoteCommandFailure, { cause: err });
      throw err;
    }
  });

  addCommonOptions(
    sessions
      .command('kill')
      .description('send a signal to a session\'s process')
      .argument('<name-or-id>', 'sandbox, or the session id when .hob names the sandbox')
      .argument('[id]', 'session id')
      .option('-s, --signal <signal>', 'INT, TERM, HUP, KILL, QUIT, USR1 or USR2', 'TERM')
      .option('--timeout <duration>', 'send KILL when it is still running after this long (e.g. 10s)'),
  ).action(async (first: string, second: string | undefined, o: { signal: string; timeout?: string }, cmd: Command) => {
    const parsed = nameAndId(first, second);
    const id = checkSessionId(parsed.id);
    const name = await sandboxName(parsed.name, ctx);
    const lines: unknown[] = [];
    const client = clientFor(cmd, ctx);
    for await (const value of client.ndjson('POST', sandboxPath(name, `/exec/${encodeURIComponent(id)}/kill`), { query: { signal: o.signal, timeout: o.timeout } })) {
      lines.push(value);
      const line = KillLine.safeParse(value);
      if (!line.success) continue;
      if (line.data.type === 'error') {
        const progress = ProgressLine.safeParse(value);
        throw new CliError(line.data.message ?? (progress.success ? (progress.data.error ?? 'the kill failed') : 'the kill failed'));
      }
      if (!wantsJson(cmd) && line.data.type !== 'complete' && line.data.message) io.stdout.write(`${line.data.message}\n`);
    }
    if (wantsJson(cmd)) printJson(io.stdout, lines);
  });
}
