/**
 * One exec session: a process started through `WSS .../exec` that lives apart
 * from the websocket that started it (Sprites' detachable sessions).
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
 * A session ends when its process exits, or at once when `abandon`ed (the
 * sandbox stopped or is removed). The registry (sessions.ts) keeps ended
 * sessions listed for a while.
 */
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { SessionListing } from '../wire/exec.js';
import { delay, ended, exitCodeOf, type GuestProcess } from './guest-process.js';
import { Scrollback, type OutputStream } from './scrollback.js';


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

export const KILL_GRACE_MS = 5_000;
/** Output is paused while some client has more than this queued, and resumed below half of it. */
export const CLIENT_HIGH_WATER = 1024 * 1024;
/** Stdin writes wait (the client's socket is paused) while the guest has more than this unconsumed. */
export const STDIN_HIGH_WATER = 4 * 1024 * 1024;
/** How long after the exit status the output streams may still deliver before the session ends anyway. */
const OUTPUT_DRAIN_MS = 2_000;
const RATE_WINDOW_MS = 5_000;


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
    private readonly process: GuestProcess,
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
