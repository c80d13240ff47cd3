/**
 * A process running in a guest, as core uses it (docs/architecture.md §5): the
 * port the exec use case (exec.ts) and sessions (session.ts) are written
 * against. The agent client's exec handle implements it; nothing outside core
 * sees the agent's own type.
 */
import type { Readable, Writable } from 'node:stream';

/** How a guest process ended; exactly one of code/signal is non-null. */
export interface ExitStatus {
  readonly code: number | null;
  /** Signal name ("SIGKILL"). */
  readonly signal: string | null;
}

export interface GuestProcess {
  readonly pid: number;
  /** Null when the process was started without stdin. */
  readonly stdin: Writable | null;
  /** In TTY mode all output arrives here. */
  readonly stdout: Readable;
  readonly stderr: Readable;
  resize(rows: number, cols: number): void;
  /** Sends a signal by name ("SIGTERM"). May throw when the process is already gone. */
  signal(name: string): void;
  /** Settles when the process ended. Rejects when the guest connection was lost. */
  readonly exited: Promise<ExitStatus>;
  /** Abandons the process and its channel (the agent hangs it up, then kills it). */
  close(): void;
}

/** Shell-style exit code: the code, or 128 + the signal's number. */
export function exitCodeOf(status: ExitStatus): number {
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

/** Resolves when the stream ended, closed or failed. */
export function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

/** A timer that does not keep the process alive. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
