/**
 * The exec use case (docs/architecture.md §9): starting a process in a
 * sandbox, one-shot for the HTTP exec (the process belongs to the request and
 * ends with it) or as a session for the websocket exec (sessions.ts). The
 * sandbox is woken and held awake while a start or a one-shot run is under
 * way (a session keeps it busy by itself); a process the guest cannot start
 * (no such command, bad directory) is answered as a shell would, with exit
 * code 127/126 and the reason as its stderr; exit codes are shell-style
 * (guest-process.ts). Also killing a session, escalating to SIGKILL after a
 * timeout (`killSession`). The API only frames this: routes/exec.ts (HTTP) and
 * ws/upgrade.ts (websocket).
 */
import type { Readable } from 'node:stream';
import { CAPABILITY_EXEC_DEFAULT_USER } from '../agent/client.js';
import { GuestError, UnknownUserError } from '../errors.js';
import type { ExecSpec } from './exec-spec.js';
import { useAgent, type GuestAccess, type GuestConnection } from './guest.js';
import { delay, ended, exitCodeOf, type ExitStatus, type GuestProcess } from './guest-process.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './sessions.js';

/** What exec needs of core. */
export interface ExecCore extends GuestAccess {
  readonly sessions: Pick<SessionRegistry, 'hold' | 'start'>;
}

/** A process the guest could not start, as a shell would report it. */
export interface StartFailure {
  /** 127: not found (command or directory); 126: not executable, or another reason. */
  readonly exitCode: number;
  /** The reason, as the process's stderr. */
  readonly text: string;
}

/** A started process, holding its sandbox awake until `release` (idempotent). */
export interface StartedExec {
  readonly ok: true;
  readonly process: GuestProcess;
  /** The sandbox's guest connection (port events for the exec websocket). */
  readonly guest: GuestConnection;
  readonly release: () => void;
}

/** A process that could not start; nothing is held. */
export interface FailedExec {
  readonly ok: false;
  readonly failure: StartFailure;
}

export type ExecStart = StartedExec | FailedExec;

/**
 * Starts `spec` in sandbox `name`, waking it. Resolves with the failure when
 * the guest cannot start the process; rejects when the sandbox does not exist,
 * its agent is unreachable (AgentError) or the guest has no such user
 * (UnknownUserError), nothing held then either.
 */
export async function startExec(core: ExecCore, name: string, spec: ExecSpec): Promise<ExecStart> {
  const { agent, release } = await useAgent(core, name);
  try {
    const process = await agent.exec({
      argv: [...spec.argv],
      env: spec.env === undefined ? undefined : withHome(agent, spec),
      cwd: spec.cwd,
      tty: spec.tty === undefined ? undefined : { rows: spec.tty.rows, cols: spec.tty.cols },
      stdin: spec.stdin,
      user: spec.user,
    });
    return { ok: true, process, guest: agent, release };
  } catch (err) {
    release();
    if (!(err instanceof GuestError)) throw err;
    if (err.guestCode === 'ENOUSER') throw new UnknownUserError(spec.user ?? '(the default user)');
    return { ok: false, failure: startFailure(spec.argv[0] ?? '', err.guestCode, err.message) };
  }
}

/**
 * The environment sent with an exec. An agent older than the default user
 * (an old image, an old checkpoint) runs as root and does not fill in HOME
 * itself: hob gives it root's, as it always did.
 */
function withHome(agent: GuestConnection, spec: ExecSpec): Record<string, string> {
  const env = { ...spec.env };
  const asRoot = spec.user === undefined || spec.user === 'root' || spec.user === '0';
  if (!agent.supports(CAPABILITY_EXEC_DEFAULT_USER) && asRoot && env.HOME === undefined) env.HOME = '/root';
  return env;
}

/** A one-shot exec's outcome: it ran (`result`), or could not start. */
export type ExecRun = { readonly ok: true; readonly result: RunResult } | FailedExec;

/** Starts `spec` and runs it to its end (the JSON HTTP exec); the sandbox is held meanwhile. */
export async function runExec(core: ExecCore, name: string, spec: ExecSpec, onOutput: OutputHandler, options: RunOptions = {}): Promise<ExecRun> {
  const started = await startExec(core, name, spec);
  if (!started.ok) return started;
  try {
    return { ok: true, result: await runProcess(started.process, onOutput, options) };
  } finally {
    started.release();
  }
}

/** Settings of a session beyond its spec. */
export interface SessionSettings {
  /** The terminal size a non-TTY session reports (a TTY's is the spec's). */
  readonly rows: number;
  readonly cols: number;
  /** How long the process runs on without a client (0: for ever); default 0 for a TTY, 10 s otherwise. */
  readonly maxRunAfterDisconnectMs: number | undefined;
}

/** Makes a started process a session, which keeps its sandbox busy from now on: the start's hold ends. */
export function startSession(core: ExecCore, name: string, started: StartedExec, spec: ExecSpec, settings: SessionSettings): Session {
  try {
    return core.sessions.start(name, started.process, {
      argv: spec.argv,
      cwd: spec.cwd,
      tty: spec.tty !== undefined,
      rows: spec.tty?.rows ?? settings.rows,
      cols: spec.tty?.cols ?? settings.cols,
      maxRunAfterDisconnectMs: settings.maxRunAfterDisconnectMs ?? (spec.tty ? 0 : 10_000),
    });
  } finally {
    started.release();
  }
}

/** Gives up a started process nobody will see (the client left first): the agent hangs it up, then kills it. */
export function abandonExec(started: StartedExec): void {
  started.process.close();
  started.release();
}

/** How long a kill with a timeout waits after the escalation to SIGKILL. */
const KILL_WAIT_MS = 5_000;

/** One step of a session kill, as the kill stream reports it (wire/exec.ts KillLine, without its time). */
export interface KillStep {
  readonly type: 'signal' | 'exited' | 'error';
  readonly message: string;
  readonly signal?: string;
  readonly exit_code?: number;
  readonly pid: number;
}

/**
 * Sends `signal` to a session's process; with a `timeoutMs` above 0, waits
 * that long for it to exit, then sends SIGKILL and waits KILL_WAIT_MS more.
 * Reports each step as it happens.
 */
export async function killSession(session: Session, signal: string, timeoutMs: number | undefined, report: (step: KillStep) => void): Promise<void> {
  const pid = session.pid;
  session.kill(signal, 0);
  report({ type: 'signal', message: `sent ${signal} to process ${pid}`, signal, pid });
  if (timeoutMs === undefined || timeoutMs <= 0) return;
  let exit = await waitOrTimeout(session.waitExit(), timeoutMs);
  if (!exit) {
    session.kill('SIGKILL', 0);
    report({ type: 'signal', message: `process ${pid} still running after ${timeoutMs} ms: sent SIGKILL`, signal: 'SIGKILL', pid });
    exit = await waitOrTimeout(session.waitExit(), KILL_WAIT_MS);
  }
  if (exit) report({ type: 'exited', message: `process ${pid} exited with ${exit.exitCode}`, exit_code: exit.exitCode, pid });
  else report({ type: 'error', message: `process ${pid} did not exit`, pid });
}

function waitOrTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Receives a running process's output: stream 1 stdout, 2 stderr. */
export type OutputHandler = (stream: 1 | 2, data: Buffer) => void;

export interface RunOptions {
  /** Input: a buffer (written then EOF), a stream (piped, EOF at its end), or none (EOF at once). */
  readonly stdin?: Buffer | Readable;
  /** Kill the process (SIGKILL) after this long. */
  readonly timeoutMs?: number;
  /** The client went away: abandon the process (the agent hangs it up, then kills it). */
  readonly abort?: AbortSignal;
}

export interface RunResult {
  /** Null when the guest connection was lost before the exit was known. */
  readonly status: ExitStatus | null;
  /** Shell-style exit code (255 when unknown). */
  readonly exitCode: number;
  readonly timedOut: boolean;
  /** Why the status is unknown. */
  readonly error: string | null;
}

/** How long after the exit status the output streams may still deliver. */
const OUTPUT_DRAIN_MS = 2_000;

/** Runs a started process to its end, feeding it `options.stdin` and handing its output to `onOutput`. */
export async function runProcess(process: GuestProcess, onOutput: OutputHandler, options: RunOptions = {}): Promise<RunResult> {
  const stdin = process.stdin;
  if (stdin) {
    stdin.on('error', () => undefined); // the process may exit without reading its input
    if (options.stdin === undefined) stdin.end();
    else if (Buffer.isBuffer(options.stdin)) stdin.end(options.stdin);
    else {
      options.stdin.on('error', () => stdin.end());
      options.stdin.pipe(stdin);
    }
  }
  process.stdout.on('data', (data: Buffer) => onOutput(1, data));
  process.stderr.on('data', (data: Buffer) => onOutput(2, data));
  const outputDone = Promise.all([ended(process.stdout), ended(process.stderr)]);

  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          try {
            process.signal('SIGKILL');
          } catch {
            // Already gone.
          }
        }, options.timeoutMs);
  const onAbort = (): void => process.close();
  if (options.abort?.aborted) onAbort();
  options.abort?.addEventListener('abort', onAbort, { once: true });

  try {
    const status = await process.exited;
    await Promise.race([outputDone, delay(OUTPUT_DRAIN_MS)]);
    return { status, exitCode: exitCodeOf(status), timedOut, error: null };
  } catch (err) {
    return { status: null, exitCode: 255, timedOut, error: err instanceof Error ? err.message : String(err) };
  } finally {
    if (timer) clearTimeout(timer);
    options.abort?.removeEventListener('abort', onAbort);
  }
}

/** Exit code and stderr text for a process that could not be started at all (shell conventions: 127 not found, 126 not executable). */
function startFailure(argv0: string, guestCode: string | undefined, message: string): StartFailure {
  if (guestCode === 'ENOENT') return { exitCode: 127, text: `hob: ${argv0}: command not found or no such directory (${message})\n` };
  if (guestCode === 'EACCES' || guestCode === 'EPERM' || guestCode === 'ENOEXEC') return { exitCode: 126, text: `hob: ${argv0}: cannot execute (${message})\n` };
  return { exitCode: 126, text: `hob: ${argv0}: could not start: ${message}\n` };
}
