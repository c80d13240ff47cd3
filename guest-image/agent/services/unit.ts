/**
 * One supervised service: its process, its state, its restarts.
 *
 * States: stopped -> starting -> running; a process that exits on its own
 * (or cannot be started at all) makes the service `failed` with a restart
 * scheduled after a backoff (backoff.ts), after which it is `starting` again.
 * stop(): `stopping` while the process group has SIGTERM, SIGKILL after the
 * timeout, then `stopped`.
 *
 * The process runs in its own session and process group (setsid), stdin
 * /dev/null, stdout and stderr piped into the service's log line by line.
 * When the leader exits, whatever is left of its group is killed (the
 * service is the whole group, as with systemd's default KillMode).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { ServiceDefinition, ServiceLogEntry, ServiceState, ServiceStatus } from '../../../daemon/protocol/index.js';
import { commandAs, defaultEnv, resolveCommand, resolveCwd } from '../command.js';
import { log } from '../log.js';
import { resolveUser } from '../users.js';
import { signalGroup } from '../handlers/process-group.js';
import { nextRestartDelay } from './backoff.js';
import { describeExit } from './log-format.js';
import type { ServiceLog } from './service-log.js';
import { removePidFile, writePidFile } from './store.js';
import { secretEnv } from '../handlers/secrets.js';

/** After the leader exited, how long its pipes may stay open (held by an escaped grandchild) before they are cut. */
const PIPE_LINGER_MS = 2000;

export class ServiceUnit {
  /** Started at boot; false after an explicit stop. Kept by the supervisor. */
  enabled: boolean;
  private status: ServiceStatus = 'stopped';
  private pid: number | undefined;
  private startedAtMs: number | undefined;
  private startedMono = 0;
  private error: string | undefined;
  private restartCount = 0;
  private nextRestartAtMs: number | undefined;
  private child: ChildProcess | undefined;
  /** Whether the process should be running (false after stop()). */
  private wanted = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private lastDelayMs: number | undefined;
  /** Resolves when the current process has ended and its output is logged. */
  private ended: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    /** Replaced by the supervisor on an update (taking effect at the next start). */
    public definition: ServiceDefinition,
    enabled: boolean,
    private readonly output: ServiceLog,
    private readonly runtimeDir: string,
  ) {
    this.enabled = enabled;
  }

  /** Whether a process exists (running or stopping). */
  get hasProcess(): boolean {
    return this.child !== undefined;
  }

  get currentStatus(): ServiceStatus {
    return this.status;
  }

  state(): ServiceState {
    return {
      status: this.status,
      ...(this.pid !== undefined ? { pid: this.pid } : {}),
      ...(this.startedAtMs !== undefined ? { startedAtMs: this.startedAtMs } : {}),
      ...(this.error !== undefined ? { error: this.error } : {}),
      restartCount: this.restartCount,
      ...(this.nextRestartAtMs !== undefined ? { nextRestartAtMs: this.nextRestartAtMs } : {}),
      enabled: this.enabled,
    };
  }

  /** Starts the process unless it runs; a pending restart happens now. Resolves once it was spawned (or failed to). */
  async start(): Promise<void> {
    this.wanted = true;
    if (this.child || this.status === 'starting') return;
    this.cancelRestart();
    await this.spawn();
  }

  /**
   * Stops the process: SIGTERM to its group, SIGKILL after `timeoutMs`.
   * Resolves once it has ended (at once when none runs).
   */
  async stop(timeoutMs: number): Promise<void> {
    this.wanted = false;
    this.cancelRestart();
    const child = this.child;
    const pid = this.pid;
    if (!child || pid === undefined) {
      this.status = 'stopped';
      return;
    }
    if (this.status !== 'stopping') {
      this.status = 'stopping';
      this.note('stopping', `SIGTERM to process group ${pid}${timeoutMs > 0 ? `, SIGKILL after ${timeoutMs / 1000}s` : ''}`);
      signalGroup(pid, 'SIGTERM');
      this.killTimer = setTimeout(() => {
        if (this.child !== child) return;
        this.note('stopping', `still running after ${timeoutMs / 1000}s: SIGKILL to process group ${pid}`);
        signalGroup(pid, 'SIGKILL');
      }, timeoutMs);
    }
    await this.ended;
  }

  /** Sends a signal to the process group. Returns false when no process runs. */
  signal(signal: number): boolean {
    if (!this.child || this.pid === undefined) return false;
    return signalGroup(this.pid, signal);
  }

  private cancelRestart(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextRestartAtMs = undefined;
  }

  private note(event: NonNullable<ServiceLogEntry['event']>, data: string, exitCode?: number | null): void {
    this.output.append({ time: Date.now(), stream: 'hob', event, data, ...(exitCode !== undefined ? { exitCode } : {}) });
  }

  private async spawn(): Promise<void> {
    this.status = 'starting';
    this.nextRestartAtMs = undefined;
    const def = this.definition;
    let child: ChildProcess;
    try {
      const user = await resolveUser(def.user);
      const cwd = await resolveCwd(def.dir, user);
      const env = { ...defaultEnv(user), ...secretEnv(), ...def.env };
      const file = await resolveCommand(def.cmd, env.PATH, cwd);
      const cmd = await commandAs(user, file, [def.cmd, ...def.args]);
      if (!this.wanted) {
        // stop() came while the command was being looked up.
        this.status = 'stopped';
        return;
      }
      child = spawn(cmd.file, cmd.args, { argv0: cmd.argv0, env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.failed(`cannot start: ${err instanceof Error ? err.message : String(err)}`, 0, undefined);
      return;
    }
    const pid = child.pid;
    if (pid === undefined || !child.stdout || !child.stderr) {
      // spawn() itself failed (EACCES, EAGAIN, ...): the reason arrives as an 'error' event.
      const reason = await new Promise<string>((resolve) => {
        child.once('error', (err) => resolve(err.message));
        setTimeout(() => resolve('the process did not start'), 1000);
      });
      child.stdout?.destroy();
      child.stderr?.destroy();
      this.failed(`cannot start: ${reason}`, 0, undefined);
      return;
    }
    this.child = child;
    this.pid = pid;
    this.status = 'running';
    this.startedAtMs = Date.now();
    this.startedMono = performance.now();
    this.error = undefined;
    let ended!: () => void;
    this.ended = new Promise<void>((resolve) => (ended = resolve));
    this.note('started', `pid ${pid}`);
    writePidFile(this.runtimeDir, this.name, pid).catch((err: unknown) => log(`service ${this.name}: pid file: ${String(err)}`));

    const stdout = child.stdout;
    const stderr = child.stderr;
    this.pipe(stdout, 'stdout', [stdout, stderr]);
    this.pipe(stderr, 'stderr', [stdout, stderr]);
    child.on('error', (err) => log(`service ${this.name} (pid ${pid}): ${err.message}`));
    child.once('exit', () => {
      // The service is its whole group: end what the leader left behind.
      signalGroup(pid, 'SIGKILL');
      setTimeout(() => {
        stdout.destroy();
        stderr.destroy();
      }, PIPE_LINGER_MS).unref();
    });
    child.once('close', (code, signal) => {
      this.onEnd(child, code, signal);
      ended();
    });
  }

  /** Feeds a pipe into the log, pausing both pipes while the log's write queue is backlogged. */
  private pipe(stream: Readable, name: 'stdout' | 'stderr', both: readonly Readable[]): void {
    const sink = this.output.lineSink(name);
    stream.on('data', (chunk: Buffer) => {
      sink.write(chunk);
      if (this.output.backlogged && !both.some((s) => s.isPaused())) {
        for (const s of both) s.pause();
        this.output.once('drain', () => {
          for (const s of both) s.resume();
        });
      }
    });
    stream.on('end', () => sink.end());
    stream.on('close', () => sink.end());
    stream.on('error', () => undefined);
  }

  private onEnd(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    clearTimeout(this.killTimer);
    this.killTimer = undefined;
    this.child = undefined;
    this.pid = undefined;
    removePidFile(this.runtimeDir, this.name).catch(() => undefined);
    const how = describeExit(code, signal);
    const exitCode = signal ? null : code;
    if (!this.wanted) {
      this.status = 'stopped';
      this.note('stopped', how, exitCode);
      return;
    }
    this.failed(`exited with ${how}`, performance.now() - this.startedMono, exitCode);
  }

  /** The process ended on its own or could not start: schedule a restart with backoff. */
  private failed(message: string, uptimeMs: number, exitCode: number | null | undefined): void {
    const delay = nextRestartDelay(this.lastDelayMs, uptimeMs);
    this.lastDelayMs = delay;
    this.error = message;
    this.status = 'failed';
    this.nextRestartAtMs = Date.now() + delay;
    const next = `restarting in ${delay / 1000}s`;
    if (exitCode !== undefined) this.note('exit', `${message.replace(/^exited with /, '')}; ${next}`, exitCode);
    else this.note('error', `${message}; ${next}`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.wanted || this.child) return;
      this.restartCount++;
      void this.spawn();
    }, delay);
  }
}
