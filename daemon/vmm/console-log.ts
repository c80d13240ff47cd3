/**
 * A VM's serial console log, bounded. The guest writes whatever it likes to its serial
 * port, as fast as it likes, forever; a VMM writing that straight into a file would fill
 * the run dir (tmpfs: host RAM). So the VMM writes the serial output to a unix socket
 * (qemu's socket chardev, cloud-hypervisor's serial `Socket` mode) and hobd copies it into
 * `console.log`, which is rotated to `console.log.1` when it reaches CONSOLE_LOG_FILE_BYTES:
 * at most two files of that size per VM, the newest output always in `console.log`.
 *
 * Memory in hobd is bounded: reads are batched into one file write, and the socket is
 * paused while MAX_PENDING_BYTES wait for the file, so a guest faster than the file only
 * fills the socket buffer, and then the VMM drops bytes (qemu's serial gives up on a byte
 * after a few retries).
 * While nobody reads (hobd restarting) the VMMs drop the output: the guest never waits
 * for hobd. The next hobd re-attaches (ConsoleReader on adopt) and appends.
 */
import { constants } from 'node:fs';
import { open, rename, truncate, type FileHandle } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';

/**
 * Bound of one console log file. Two of them per VM (console.log and console.log.1): 1 MiB
 * of a VM's recent console output, enough for a boot log and a kernel oops, and 1 MiB of
 * /run per VM at most.
 */
export const CONSOLE_LOG_FILE_BYTES = 512 * 1024;
/** First delay before re-connecting to the console socket; doubles up to the next. */
const RECONNECT_FIRST_MS = 50;
/** Longest delay between attempts (the socket is missing while the VMM is not up yet or gone). */
const RECONNECT_MAX_MS = 2_000;
/**
 * Read but unwritten console bytes at which hobd stops reading the socket until the file
 * write catches up: hobd's memory per VM console, and the size of one file write at most.
 */
export const MAX_PENDING_BYTES = 256 * 1024;
/** How long finish() waits for the VMM's last output after the VMM exited. */
const FINISH_WAIT_MS = 1_000;

/** Where a VM's console log lives in its run dir (both drivers; `<path>.1` is the rotated one). */
export function consoleLogPath(runDir: string): string {
  return join(runDir, 'console.log');
}

const OPEN_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** A log file that rotates to `<path>.1` at `maxBytes`. Writes must not overlap (await each). */
export class RotatingLog {
  private fh: FileHandle | undefined;
  private size = 0;

  constructor(
    readonly path: string,
    readonly maxBytes: number = CONSOLE_LOG_FILE_BYTES,
  ) {}

  /** Appends `chunk`, rotating as often as needed; the current file never exceeds maxBytes. */
  async write(chunk: Uint8Array): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      const fh = await this.handle();
      if (this.size >= this.maxBytes) {
        await this.rotate();
        continue;
      }
      const { bytesWritten } = await fh.write(rest, 0, Math.min(rest.length, this.maxBytes - this.size));
      this.size += bytesWritten;
      rest = rest.subarray(bytesWritten);
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async handle(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    const fh = await open(this.path, OPEN_FLAGS, 0o600);
    this.fh = fh;
    this.size = (await fh.stat()).size;
    if (this.size > this.maxBytes) {
      // Written by an older hob without a cap: rotate it, keeping only its head.
      await this.rotate();
      await truncate(`${this.path}.1`, this.maxBytes);
      return this.handle();
    }
    return fh;
  }

  private async rotate(): Promise<void> {
    await this.close();
    await rename(this.path, `${this.path}.1`);
  }
}

export interface ConsoleReaderOptions {
  /** Called for a failed write (e.g. ENOSPC in the run dir): the chunk is dropped, reading goes on. */
  readonly onError?: (err: Error) => void;
}

/**
 * Copies what arrives on the VMM's console socket into a RotatingLog, re-connecting when
 * the socket is not there yet or the connection drops, until finish() or stop().
 */
export class ConsoleReader {
  private readonly log: RotatingLog;
  private socket: net.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay = RECONNECT_FIRST_MS;
  private stopped = false;
  /** Chunks read but not written yet (at most MAX_PENDING_BYTES, plus one read). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writingBytes = 0;
  /** The write loop, while one runs. */
  private flushing: Promise<void> | undefined;
  private lastError: string | undefined;

  constructor(
    readonly socketPath: string,
    readonly logPath: string,
    private readonly opts: ConsoleReaderOptions = {},
  ) {
    this.log = new RotatingLog(logPath);
  }

  /** Starts connecting (now, then with backoff until the socket answers). */
  start(): this {
    this.connect();
    return this;
  }

  /** Tries to connect now instead of at the next backoff step (the VMM just created its socket). */
  kick(): void {
    if (this.stopped || this.socket) return;
    if (this.timer) clearTimeout(this.timer);
    this.delay = RECONNECT_FIRST_MS;
    this.connect();
  }

  /** Bytes held in memory: read, not yet written (at most MAX_PENDING_BYTES plus one read, plus the batch being written). */
  get bufferedBytes(): number {
    return this.pendingBytes + this.writingBytes;
  }

  /** True while connected to the VMM. */
  get connected(): boolean {
    return this.socket?.readyState === 'open';
  }

  /**
   * The VMM exited: takes what is still in the socket (the guest's last words, a panic
   * say) for up to FINISH_WAIT_MS, then stops.
   */
  async finish(): Promise<void> {
    this.stopped = true;
    const sock = this.socket;
    if (sock && !sock.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, FINISH_WAIT_MS);
        t.unref();
        sock.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await this.stop();
  }

  /** Stops reading at once and closes the log file. Never rejects. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.destroy();
    this.socket = undefined;
    await this.flushing;
    await this.log.close().catch(() => undefined);
  }

  /**
   * Writes what was read, in batches: the serial line arrives a few bytes per read, and one
   * file write per read would make hobd the bottleneck. Never rejects.
   */
  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      this.writingBytes = batch.length;
      // The current connection (a reconnect may have replaced the one that started this loop).
      const sock = this.socket;
      if (sock?.isPaused() && !sock.destroyed) sock.resume();
      await this.log.write(batch).catch((err: Error) => this.reportOnce(err));
      this.writingBytes = 0;
    }
    this.flushing = undefined;
  }

  private connect(): void {
    if (this.stopped) return;
    const sock = net.createConnection({ path: this.socketPath });
    this.socket = sock;
    sock.on('error', () => {
      // ENOENT/ECONNREFUSED before the VMM listens, ECONNRESET when it exits: 'close' follows.
    });
    sock.on('connect', () => {
      this.delay = RECONNECT_FIRST_MS;
    });
    sock.on('data', (chunk: Buffer) => {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      // Bounded memory: stop reading while this much waits for the file (the VMM holds back then).
      if (this.pendingBytes >= MAX_PENDING_BYTES) sock.pause();
      this.flushing ??= this.flush();
    });
    sock.on('close', () => {
      if (this.socket === sock) this.socket = undefined;
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.timer.unref();
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
  }

  /** One report per distinct error message, so a full disk does not flood hobd's log either. */
  private reportOnce(err: Error): void {
    if (err.message === this.lastError) return;
    this.lastError = err.message;
    this.opts.onError?.(err);
  }
}
