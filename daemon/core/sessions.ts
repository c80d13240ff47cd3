/**
 * Exec sessions: processes started through `WSS .../exec` that live apart from
 * the websocket that started them (Sprites' detachable sessions).
 *
 * A session holds the guest process, a scrollback ring of its recent output,
 * and the clients (websockets) attached to it. Every attached client sees the
 * output and may write stdin, resize and signal. When the last client leaves:
 * - with `maxRunAfterDisconnectMs === 0` (the TTY default) the process keeps
 *   running, its output going to the scrollback only, until someone attaches
 *   again or it exits;
 * - otherwise (non-TTY default: 10 s) it is sent SIGTERM when that time has
 *   passed without a client, and SIGKILL KILL_GRACE_MS later.
 * A client attaching later gets the scrollback replayed, then live output.
 *
 * Sessions end when their process exits, or at once when the sandbox stops or
 * is removed (`endSandbox`). An ended session stays listed for
 * EXITED_RETENTION_MS so that a late attach still gets its output and exit
 * code, and a kill gets 410 Gone rather than 404.
 *
 * The registry is what the idle policy reads (`activity()`, the `change`
 * event): an attached client, a running detached session, or a request
 * holding the sandbox (`hold()`: HTTP exec, file transfers) keeps it awake.
 */
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type { SessionListing } from '../wire/exec.js';

/** What a session needs of a guest process (the agent client's exec handle provides it). */
export interface SessionProcess {
  readonly pid: number;
  /** Null when the process was started without stdin. */
  readonly stdin: Writable | null;
  /** In TTY mode all output arrives here. */
  readonly stdout: Readable;
  readonly stderr: Readable;
  resize(rows: number, cols: number): void;
  /** Sends a signal by name ("SIGTERM"). May throw when the process is already gone. */
  signal(name: string): void;
  /** Settles when the process ended; exactly one of code/signal is non-null. Rejects when the guest connection was lost. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null }>;
  /** Abandons the process and its channel (the agent hangs it up, then kills it). */
  close(): void;
}

/** How a session ended. */
export interface SessionExit {
  /** Shell-style exit code: the code, 128 + signal number, or 255 when the sandbox went away. */
  readonly exitCode: number;
  /** Signal that killed the process ("SIGKILL"), if any. */
  readonly signal: string | null;
  /** Set when the session ended without a real exit status (sandbox stopped, guest connection lost). */
  readonly error: string | null;
  /** ISO 8601. */
  readonly at: string;
}

/** Output stream numbers, as in the exec framing: 1 stdout, 2 stderr. */
export type OutputStream = 1 | 2;

/** One attached websocket (implemented by the API layer). */
export interface SessionClient {
  /** Delivers output. Called for the scrollback replay first, then live. */
  output(stream: OutputStream, data: Buffer): void;
  /** The session ended: send the exit frames and close. Called once, after the last output. */
  exit(exit: SessionExit): void;
  /** Bytes handed to this client not yet flushed to its socket. */
  readonly backlog: number;
}

export interface SessionStartInfo {
  readonly argv: readonly string[];
  readonly cwd: string | undefined;
  readonly tty: boolean;
  readonly rows: number;
  readonly cols: number;
  /** 0: keep running without clients for ever. */
  readonly maxRunAfterDisconnectMs: number;
}

export const SCROLLBACK_BYTES = 256 * 1024;
export const EXITED_RETENTION_MS = 60_000;
export const MAX_EXITED_PER_SANDBOX = 50;
export const KILL_GRACE_MS = 5_000;
/** Output is paused while some client has more than this queued, and resumed below half of it. */
export const CLIENT_HIGH_WATER = 1024 * 1024;
/** Stdin writes wait (the client's socket is paused) while the guest has more than this unconsumed. */
export const STDIN_HIGH_WATER = 4 * 1024 * 1024;
/** How long after the exit status the output streams may still deliver before the session ends anyway. */
const OUTPUT_DRAIN_MS = 2_000;
const RATE_WINDOW_MS = 5_000;

/** A byte-bounded ring of output chunks; the oldest bytes go first. */
export class Scrollback {
  private chunks: Array<{ stream: OutputStream; data: Buffer }> = [];
  private size = 0;

  constructor(readonly capacity: number = SCROLLBACK_BYTES) {}

  get bytes(): number {
    return this.size;
  }

  push(stream: OutputStream, data: Buffer): void {
    if (data.length === 0 || this.capacity === 0) return;
    if (data.length >= this.capacity) {
      this.chunks = [{ stream, data: Buffer.from(data.subarray(data.length - this.capacity)) }];
      this.size = this.capacity;
      return;
    }
    this.chunks.push({ stream, data: Buffer.from(data) });
    this.size += data.length;
    while (this.size > this.capacity) {
      const first = this.chunks[0]!;
      const excess = this.size - this.capacity;
      if (first.data.length <= excess) {
        this.chunks.shift();
        this.size -= first.data.length;
      } else {
        first.data = first.data.subarray(excess);
        this.size -= excess;
      }
    }
  }

  /** The retained output, oldest first. */
  snapshot(): ReadonlyArray<{ readonly stream: OutputStream; readonly data: Buffer }> {
    return [...this.chunks];
  }
}

export interface SessionEvents {
  /** Clients attached/detached, or the session ended. */
  change: [];
}

export class Session extends EventEmitter<SessionEvents> {
  readonly created = new Date();
  private readonly clients = new Set<SessionClient>();
  private readonly scrollback = new Scrollback();
  private exitInfo: SessionExit | null = null;
  private disconnectTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private stdinEnded = false;
  private lastActivity = new Date();
  private windowStart = Date.now();
  private windowBytes = 0;
  private lastRate = 0;
  private rows: number;
  private cols: number;

  constructor(
    readonly id: string,
    readonly sandbox: string,
    private readonly process: SessionProcess,
    readonly info: SessionStartInfo,
  ) {
    super();
    this.rows = info.rows;
    this.cols = info.cols;
    this.pipe(process.stdout, 1);
    this.pipe(process.stderr, info.tty ? 1 : 2);
    void this.watchExit();
  }

  get pid(): number {
    return this.process.pid;
  }

  get tty(): boolean {
    return this.info.tty;
  }

  get exited(): SessionExit | null {
    return this.exitInfo;
  }

  get attachedCount(): number {
    return this.clients.size;
  }

  get size(): { rows: number; cols: number } {
    return { rows: this.rows, cols: this.cols };
  }

  /** The command line as one string (argv joined by spaces). */
  get command(): string {
    return this.info.argv.join(' ');
  }

  /**
   * Attaches a client: replays the scrollback to it, then delivers live output.
   * On an ended session the client gets the replay and the exit at once.
   * Returns a function that detaches it.
   */
  attach(client: SessionClient): () => void {
    for (const chunk of this.scrollback.snapshot()) client.output(chunk.stream, chunk.data);
    if (this.exitInfo) {
      client.exit(this.exitInfo);
      return () => undefined;
    }
    this.clients.add(client);
    this.clearDisconnectTimer();
    this.emit('change');
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      this.clients.delete(client);
      this.onClientDrain();
      if (this.clients.size === 0 && !this.exitInfo) this.startDisconnectTimer();
      this.emit('change');
    };
  }

  /**
   * Writes client input to the process. Returns false when the caller should
   * wait for `onceStdinDrain` before sending more (the guest is not keeping up).
   */
  writeStdin(data: Buffer): boolean {
    const stdin = this.process.stdin;
    if (!stdin || this.stdinEnded || this.exitInfo || stdin.destroyed) return true;
    this.touch(0);
    stdin.write(data);
    return stdin.writableLength <= STDIN_HIGH_WATER;
  }

  /** Calls `callback` once the process's stdin has room again (at once if it has). */
  onceStdinDrain(callback: () => void): void {
    const stdin = this.process.stdin;
    if (!stdin || stdin.destroyed || stdin.writableLength <= STDIN_HIGH_WATER) {
      callback();
      return;
    }
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      callback();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  }

  /** Ends the process's stdin (client sent stdin EOF). */
  endStdin(): void {
    if (this.stdinEnded) return;
    this.stdinEnded = true;
    const stdin = this.process.stdin;
    if (stdin && !stdin.destroyed) stdin.end();
  }

  resize(rows: number, cols: number): void {
    if (!this.info.tty || this.exitInfo) return;
    this.rows = rows;
    this.cols = cols;
    try {
      this.process.resize(rows, cols);
    } catch {
      // The process is exiting; the exit will be reported through `exited`.
    }
  }

  /** Sends a signal ("SIGTERM"). Returns false when the session has already ended. */
  signal(name: string): boolean {
    if (this.exitInfo) return false;
    try {
      this.process.signal(name);
    } catch {
      // Raced with the exit; reported through `exited`.
    }
    return true;
  }

  /**
   * Signals the process and, when `escalateAfterMs` > 0, sends SIGKILL if it
   * is still running that much later. Returns false when it already ended.
   */
  kill(signal: string, escalateAfterMs: number): boolean {
    if (!this.signal(signal)) return false;
    if (escalateAfterMs > 0 && signal !== 'SIGKILL') this.scheduleKill(escalateAfterMs);
    return true;
  }

  /** Resolves with the exit once the session has ended. */
  waitExit(): Promise<SessionExit> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => {
      const check = () => {
        if (this.exitInfo) {
          this.off('change', check);
          resolve(this.exitInfo);
        }
      };
      this.on('change', check);
    });
  }

  /** Ends the session now without waiting for the process (the sandbox stopped or is being removed). */
  abandon(reason: string): void {
    if (this.exitInfo) return;
    try {
      this.process.signal('SIGKILL');
      this.process.close();
    } catch {
      // The guest is already gone.
    }
    this.finish({ exitCode: 255, signal: null, error: reason, at: new Date().toISOString() });
  }

  /** Called by clients whose backlog fell: resumes output once every client is below the low-water mark. */
  onClientDrain(): void {
    if (!this.paused) return;
    for (const client of this.clients) if (client.backlog > CLIENT_HIGH_WATER / 2) return;
    this.paused = false;
    this.process.stdout.resume();
    this.process.stderr.resume();
  }

  listing(): SessionListing {
    return {
      id: this.id,
      command: this.command,
      workdir: this.info.cwd ?? '',
      created: this.created.toISOString(),
      bytes_per_second: this.rate(),
      is_active: this.clients.size > 0,
      last_activity: this.lastActivity.toISOString(),
      tty: this.info.tty,
      pid: this.process.pid,
      attached: this.clients.size,
      exited: this.exitInfo !== null,
      exit_code: this.exitInfo?.exitCode ?? null,
    };
  }

  private pipe(stream: Readable, as: OutputStream): void {
    stream.on('data', (data: Buffer) => this.deliver(as, data));
    stream.on('error', () => undefined); // an error ends the stream; the exit is reported through `exited`
  }

  private deliver(stream: OutputStream, data: Buffer): void {
    this.touch(data.length);
    this.scrollback.push(stream, data);
    let over = false;
    for (const client of this.clients) {
      client.output(stream, data);
      if (client.backlog > CLIENT_HIGH_WATER) over = true;
    }
    // Pausing the readable stops granting credit to the agent, which then stops reading the process's output.
    if (over && !this.paused) {
      this.paused = true;
      this.process.stdout.pause();
      this.process.stderr.pause();
    }
  }

  private touch(bytes: number): void {
    const now = Date.now();
    this.lastActivity = new Date(now);
    if (now - this.windowStart >= RATE_WINDOW_MS) {
      this.lastRate = now - this.windowStart >= 2 * RATE_WINDOW_MS ? 0 : this.windowBytes / (RATE_WINDOW_MS / 1000);
      this.windowStart = now;
      this.windowBytes = 0;
    }
    this.windowBytes += bytes;
  }

  private rate(): number {
    const elapsed = Date.now() - this.windowStart;
    if (elapsed >= 2 * RATE_WINDOW_MS) return 0;
    if (elapsed >= RATE_WINDOW_MS) return this.windowBytes / (RATE_WINDOW_MS / 1000);
    return this.lastRate;
  }

  private async watchExit(): Promise<void> {
    let status: { code: number | null; signal: string | null } | null = null;
    let error: string | null = null;
    try {
      status = await this.process.exited;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (this.exitInfo) return;
    // The agent sends the exit after the output's EOFs, but our consumers may still hold some of it.
    await Promise.race([Promise.all([ended(this.process.stdout), ended(this.process.stderr)]), delay(OUTPUT_DRAIN_MS)]);
    if (this.exitInfo) return;
    this.finish({
      exitCode: status ? exitCodeOf(status) : 255,
      signal: status?.signal ?? null,
      error: status ? null : `lost the guest connection: ${error ?? 'unknown'}`,
      at: new Date().toISOString(),
    });
  }

  private finish(exit: SessionExit): void {
    this.exitInfo = exit;
    this.clearDisconnectTimer();
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = undefined;
    // Stop reading: nothing may follow the exit.
    this.process.stdout.removeAllListeners('data');
    this.process.stderr.removeAllListeners('data');
    this.process.stdout.resume();
    this.process.stderr.resume();
    const clients = [...this.clients];
    this.clients.clear();
    for (const client of clients) client.exit(exit);
    this.emit('change');
  }

  private startDisconnectTimer(): void {
    const after = this.info.maxRunAfterDisconnectMs;
    if (after <= 0) return;
    this.clearDisconnectTimer();
    this.disconnectTimer = setTimeout(() => {
      this.disconnectTimer = undefined;
      if (this.clients.size === 0) this.kill('SIGTERM', KILL_GRACE_MS);
    }, after);
    this.disconnectTimer.unref();
  }

  private clearDisconnectTimer(): void {
    if (this.disconnectTimer) clearTimeout(this.disconnectTimer);
    this.disconnectTimer = undefined;
  }

  private scheduleKill(afterMs: number): void {
    if (this.killTimer) return;
    this.killTimer = setTimeout(() => {
      this.killTimer = undefined;
      this.signal('SIGKILL');
    }, afterMs);
    this.killTimer.unref();
  }
}

export interface SessionRegistryEvents {
  /** Something changed for a sandbox's sessions (started, ended, client attached or detached). */
  change: [sandbox: string];
}

/** What keeps a sandbox from being idle, as far as the API knows (docs/architecture.md §7). */
export interface SandboxActivity {
  /** Websockets attached to its sessions. */
  readonly attachedClients: number;
  /** Sessions whose process runs, attached or not. */
  readonly runningSessions: number;
  /** Requests in progress that use the guest without a session (HTTP exec, file transfers). */
  readonly holds: number;
}

/** All sessions of all sandboxes, by sandbox name. */
export class SessionRegistry extends EventEmitter<SessionRegistryEvents> {
  private readonly bySandbox = new Map<string, Map<string, Session>>();
  private readonly expiry = new Map<Session, NodeJS.Timeout>();
  private readonly holdCounts = new Map<string, number>();

  /** Registers a started process as a session. Its id is the guest pid (made unique if a pid was reused). */
  start(sandbox: string, process: SessionProcess, info: SessionStartInfo): Session {
    const sessions = this.sessionsOf(sandbox, true)!;
    let id = String(process.pid);
    const previous = sessions.get(id);
    if (previous?.exited) this.forget(previous);
    for (let n = 2; sessions.has(id); n++) id = `${process.pid}-${n}`;
    const session = new Session(id, sandbox, process, info);
    sessions.set(id, session);
    session.on('change', () => {
      if (session.exited && !this.expiry.has(session)) this.retire(session);
      this.emit('change', sandbox);
    });
    this.emit('change', sandbox);
    return session;
  }

  get(sandbox: string, id: string): Session | undefined {
    return this.bySandbox.get(sandbox)?.get(id);
  }

  /** Sessions of a sandbox, oldest first, ended ones included while retained. */
  list(sandbox: string): Session[] {
    return [...(this.bySandbox.get(sandbox)?.values() ?? [])].sort((a, b) => a.created.getTime() - b.created.getTime());
  }

  /** Clients attached to any session of the sandbox (what the idle policy reads). */
  attachedClients(sandbox: string): number {
    let n = 0;
    for (const session of this.bySandbox.get(sandbox)?.values() ?? []) n += session.attachedCount;
    return n;
  }

  /** Sessions of the sandbox whose process is still running, attached or not. */
  runningSessions(sandbox: string): number {
    let n = 0;
    for (const session of this.bySandbox.get(sandbox)?.values() ?? []) if (!session.exited) n++;
    return n;
  }

  /**
   * Marks the sandbox as in use by a request that has no session (an HTTP exec,
   * a file transfer) until the returned function is called (idempotent).
   */
  hold(sandbox: string): () => void {
    this.holdCounts.set(sandbox, (this.holdCounts.get(sandbox) ?? 0) + 1);
    this.emit('change', sandbox);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.holdCounts.get(sandbox) ?? 1) - 1;
      if (left > 0) this.holdCounts.set(sandbox, left);
      else this.holdCounts.delete(sandbox);
      this.emit('change', sandbox);
    };
  }

  /** Everything the API knows that keeps the sandbox busy; all zero means idle as far as exec and files go. */
  activity(sandbox: string): SandboxActivity {
    return { attachedClients: this.attachedClients(sandbox), runningSessions: this.runningSessions(sandbox), holds: this.holdCounts.get(sandbox) ?? 0 };
  }

  /** Ends every running session of a sandbox (it stopped or is being removed). Ended sessions stay listed for a while. */
  endSandbox(sandbox: string, reason: string): void {
    for (const session of this.list(sandbox)) session.abandon(reason);
  }

  /** Ends and forgets every session of a sandbox (it was removed). */
  removeSandbox(sandbox: string, reason: string): void {
    this.endSandbox(sandbox, reason);
    for (const session of this.list(sandbox)) this.forget(session);
    this.bySandbox.delete(sandbox);
  }

  /** Ends everything (daemon shutdown). */
  shutdown(reason: string): void {
    for (const sandbox of [...this.bySandbox.keys()]) this.removeSandbox(sandbox, reason);
  }

  private sessionsOf(sandbox: string, create: boolean): Map<string, Session> | undefined {
    let sessions = this.bySandbox.get(sandbox);
    if (!sessions && create) {
      sessions = new Map();
      this.bySandbox.set(sandbox, sessions);
    }
    return sessions;
  }

  /** Keeps an ended session listed for EXITED_RETENTION_MS, and at most MAX_EXITED_PER_SANDBOX of them. */
  private retire(session: Session): void {
    const timer = setTimeout(() => this.forget(session), EXITED_RETENTION_MS);
    timer.unref();
    this.expiry.set(session, timer);
    const ended = this.list(session.sandbox).filter((s) => s.exited);
    for (const old of ended.slice(0, Math.max(0, ended.length - MAX_EXITED_PER_SANDBOX))) this.forget(old);
  }

  private forget(session: Session): void {
    const timer = this.expiry.get(session);
    if (timer) clearTimeout(timer);
    this.expiry.delete(session);
    const sessions = this.bySandbox.get(session.sandbox);
    if (sessions?.get(session.id) === session) sessions.delete(session.id);
    if (sessions && sessions.size === 0) this.bySandbox.delete(session.sandbox);
    session.removeAllListeners();
  }
}

/** Shell-style exit code: the code, or 128 + the signal's number. */
export function exitCodeOf(status: { readonly code: number | null; readonly signal: string | null }): number {
  if (status.code !== null) return status.code & 0xff;
  if (status.signal !== null) {
    const number = SIGNAL_NUMBERS[status.signal];
    return number === undefined ? 255 : (128 + number) & 0xff;
  }
  return 255;
}

/** Linux signal numbers (the guest is Linux whatever the host is). */
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
