import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmmError } from '../errors.js';
import type { VmExit } from './types.js';

/** How a VMM process is launched. */
export interface DetachedLaunch {
  /** Program and arguments. */
  readonly argv: readonly string[];
  /** Network namespace to run in (`ip netns exec NS`, which execs: the pid stays the VMM's). */
  readonly netns?: string;
  /** Files (appended to) receiving the process's stdout and stderr. */
  readonly stdoutPath: string;
  readonly stderrPath: string;
}

/** The full argv actually executed for a launch (with the netns wrapper when needed). */
export function launchArgv(l: Pick<DetachedLaunch, 'argv' | 'netns'>): string[] {
  return l.netns ? ['ip', 'netns', 'exec', l.netns, ...l.argv] : [...l.argv];
}

/**
 * Spawns a VMM that must outlive hobd: its own process group (no signal from hobd's
 * terminal or systemd stop reaches it through the group), stdin from /dev/null, stdout and
 * stderr to files (a pipe would die with hobd and SIGPIPE the VMM), and unref'd so it does
 * not keep hobd's event loop alive. node:child_process is used instead of execa on purpose:
 * execa's value is output capture and cleanup-on-exit, both of which must be off here.
 * Throws VmmError when the spawn itself fails synchronously.
 */
export function spawnDetached(l: DetachedLaunch): ChildProcess {
  const argv = launchArgv(l);
  const out = openSync(l.stdoutPath, 'a');
  const err = openSync(l.stderrPath, 'a');
  try {
    const [file, ...args] = argv;
    if (!file) throw new VmmError('empty VMM command line');
    const child = spawn(file, args, { detached: true, stdio: ['ignore', out, err] });
    child.unref();
    return child;
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/** Identity of a process that survives pid reuse: pid plus kernel start time (clock ticks since boot). */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
}

interface ProcStat {
  readonly state: string;
  readonly startTime: string;
}

async function readProcStat(pid: number): Promise<ProcStat | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may contain spaces and parens: fields after it start past the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const startTime = rest[19]; // field 22 overall
  if (state === undefined || startTime === undefined) return null;
  return { state, startTime };
}

/** The identity of a live (non-zombie) process, or null if there is none with that pid. */
export async function processIdentity(pid: number): Promise<ProcessIdentity | null> {
  const st = await readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return null;
  return { pid, startTime: st.startTime };
}

/** True while the very process `id` names still runs (not exited, not a zombie, pid not reused). */
export async function isAlive(id: ProcessIdentity): Promise<boolean> {
  const st = await readProcStat(id.pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X' && st.startTime === id.startTime;
}

/** /proc/<pid>/cmdline as an argv array, or null if the process is gone. */
export async function readCmdline(pid: number): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    const parts = raw.split('\0');
    if (parts.at(-1) === '') parts.pop();
    return parts;
  } catch {
    return null;
  }
}

/** Reads a pid file; null when absent or not a number. */
export async function readPidFile(path: string): Promise<number | null> {
  try {
    const n = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

/** Sends a signal, ignoring "no such process". */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Tracks the end of a VMM process. For our own child the 'exit' event gives the real status;
 * for an adopted process (someone else's child) only polling /proc can tell, and the status
 * is unknown. `poke()` switches to fast polling (the control socket closed: exit is near).
 * Timers are unref'd: a watch alone never keeps hobd alive.
 */
export class ExitWatch {
  readonly exited: Promise<VmExit>;
  private resolveExit!: (e: VmExit) => void;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  private disposed = false;
  /** Our own child: its 'exit' event is authoritative, polling would race it for the status. */
  private readonly isChild: boolean;
  /** Error emitted by spawn (e.g. ENOENT for the binary), if any. */
  spawnError: Error | undefined;

  constructor(
    readonly id: ProcessIdentity,
    child?: ChildProcess,
  ) {
    this.exited = new Promise<VmExit>((resolve) => (this.resolveExit = resolve));
    this.isChild = child !== undefined;
    if (child) {
      child.once('exit', (code, signal) => this.finish({ code, signal }));
      child.once('error', (err) => {
        this.spawnError = err;
        // 'exit' does not follow a failed spawn.
        if (child.pid === undefined) this.finish({ code: null, signal: null });
      });
    }
    this.schedule(1000);
  }

  /** Polls quickly for a while: the caller has reason to believe the process is ending. */
  poke(): void {
    this.schedule(25);
  }

  /** Stops watching without resolving `exited` (handle released). */
  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * Waits up to `ms` for the exit, keeping the event loop alive meanwhile. Resolves with the
   * exit, or undefined on timeout.
   */
  async waitFor(ms: number): Promise<VmExit | undefined> {
    this.poke();
    const ac = new AbortController();
    try {
      return await Promise.race([
        this.exited,
        sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined),
      ]);
    } finally {
      ac.abort();
    }
  }

  private schedule(ms: number): void {
    if (this.done || this.disposed || this.isChild) return;
    if (this.timer) clearTimeout(this.timer);
    const fast = ms < 1000;
    this.timer = setTimeout(() => {
      void isAlive(this.id).then((alive) => {
        if (!alive) this.finish({ code: null, signal: null });
        else this.schedule(fast ? Math.min(ms * 2, 1000) : 1000);
      });
    }, ms);
    this.timer.unref();
  }

  private finish(e: VmExit): void {
    if (this.done || this.disposed) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.resolveExit(e);
  }

  get hasExited(): boolean {
    return this.done;
  }
}

/** SIGKILLs the process `id` (if it is still that process) and waits until it is gone. */
export async function killAndWait(id: ProcessIdentity): Promise<void> {
  const watch = new ExitWatch(id);
  try {
    if (await isAlive(id)) signalProcess(id.pid, 'SIGKILL');
    // SIGKILL cannot be ignored; the loop only covers a process stuck in the kernel (D state).
    while (!(await watch.waitFor(5_000)));
  } finally {
    watch.dispose();
  }
}
