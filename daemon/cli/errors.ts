/**
 * The CLI's errors and exit codes. Every failure ends as one line on stderr,
 * `hob: <message>`, and an exit code:
 *
 * | code | meaning                                                            |
 * |------|--------------------------------------------------------------------|
 * | 0    | success                                                            |
 * | 1    | hobd refused or failed the operation (an API error), or a local I/O error |
 * | 2    | bad command line (unknown option, missing or invalid argument)     |
 * | 3    | hobd cannot be reached (not running, no permission on the socket)  |
 * | 255  | `exec`, `console` and `sessions attach`: hob's own failure, so that |
 * |      | it stays apart from the remote command's codes (as ssh does)       |
 *
 * `exec`, `console` and `sessions attach` otherwise exit with the remote
 * command's code (128 + n when a signal n killed it).
 */
import { terminalSafe } from './output.js';
export const ExitCode = {
  Ok: 0,
  Failure: 1,
  Usage: 2,
  Unreachable: 3,
  /** Stopped by Ctrl+C (128 + SIGINT), as shells report it. */
  Interrupted: 130,
  RemoteCommandFailure: 255,
} as const;

/** An error the CLI reports as is: one line, and its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The command line is wrong (exit 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
  }
}

/** hobd answered with an error status. `code` is the API's `error` field (not_found, conflict, ENOENT...). */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message, ExitCode.Failure);
  }
}

/** hobd could not be reached at all. `where` names the socket or URL. */
export class ConnectionError extends CliError {
  constructor(
    readonly where: string,
    readonly reason: 'not-running' | 'permission' | 'other',
    detail: string,
  ) {
    super(connectionMessage(where, reason, detail), ExitCode.Unreachable);
  }
}

function connectionMessage(where: string, reason: ConnectionError['reason'], detail: string): string {
  switch (reason) {
    case 'not-running':
      return `hobd is not running (${where}): start it with \`systemctl start hobd\` (or \`hob daemon\` where systemd is not running)`;
    case 'permission':
      return `no permission to use ${where}: run as root or as a member of the group hob`;
    default:
      return `cannot reach hobd (${where}): ${detail}`;
  }
}

/** Classifies a socket-level error (from node:net / node:http / ws) into a ConnectionError. */
export function connectionError(where: string, err: unknown): ConnectionError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const detail = err instanceof Error ? err.message : String(err);
  if (code === 'ECONNREFUSED' || code === 'ENOENT') return new ConnectionError(where, 'not-running', detail);
  if (code === 'EACCES' || code === 'EPERM') return new ConnectionError(where, 'permission', detail);
  return new ConnectionError(where, 'other', detail);
}

/** Hints added to some API errors, so the message says what to do. */
function hintFor(err: ApiError): string {
  if (err.status === 401) return ' (pass --token or set HOB_TOKEN; create a token with `hob token create` over the unix socket)';
  return '';
}

/** What to print and which code to exit with, for any error a command threw. */
export function describeFailure(err: unknown): { message: string; exitCode: number } {
  if (err instanceof ApiError) return { message: oneLine(err.message + hintFor(err)), exitCode: err.exitCode };
  if (err instanceof CliError) return { message: oneLine(err.message), exitCode: err.exitCode };
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (err instanceof Error && typeof code === 'string') {
    // Local file errors (cp): node's messages already name the path ("ENOENT: no such file or directory, open 'x'").
    return { message: oneLine(err.message), exitCode: ExitCode.Failure };
  }
  return { message: oneLine(err instanceof Error ? `internal error: ${err.message}` : `internal error: ${String(err)}`), exitCode: ExitCode.Failure };
}

/** The line printed for a failure (terminal-safe: API errors may carry guest text). */
export function formatFailureLine(message: string): string {
  return `hob: ${terminalSafe(message)}\n`;
}

/** Collapses a message to one line (API messages may carry guest output). */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
