/**
 * The virtio-serial transport (QEMU): the port named AGENT_VIRTIO_PORT_NAME,
 * as a Duplex that lives as long as the agent.
 *
 * A virtio-serial port behaves unlike a socket: while no host is connected,
 * read() returns 0 at once and write() blocks; the host may connect and
 * disconnect at any time; only one open() of the port is allowed. And Node
 * cannot poll a character device, so plain Node I/O on it means one blocking
 * call on libuv's thread pool per read, and the kernel hands out at most one
 * 4 KiB buffer per read(): under TCG that capped uploads near 100 KiB/s.
 *
 * So the agent opens the device once and lets `cat` children move the bytes
 * through pipes (which Node polls): a long-lived writer (`cat >&dev`) and, while
 * a host is connected, a reader (`cat <&dev`). The reader exits when read()
 * returns 0, which means the host went away; the stream then waits for the next
 * host with cheap blocking reads on the thread pool every IDLE_RETRY_MS, and the
 * first bytes that arrive start a new reader. The stream itself never ends.
 *
 * A read() of 0 is not yet a hangup. The kernel learns of a host's connect and
 * disconnect from the control queue, handled in a workqueue, and of its bytes
 * from the port's own queue, handled at once: when hobd drops a connection and
 * opens the next one at once, the guest may read the new host's HELLO first and
 * only then see the old host's disconnect. Resetting the session then would
 * undo the new handshake (the next request got "send HELLO first"). So the
 * stream emits HANGUP_EVENT (the session resets its channels) only after reads
 * have returned 0 for HANGUP_CONFIRM_MS; bytes arriving before that mean a host
 * is there, and a new host starts with a HELLO, which resets the session anyway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { log } from '../log.js';
import { HANGUP_EVENT } from './hangup.js';

const SYSFS_PORTS = '/sys/class/virtio-ports';
const READ_SIZE = 64 * 1024;
/** Delay between reads while no host is connected. */
export const IDLE_RETRY_MS = 100;
/** How long reads must keep returning 0 before the host counts as gone. */
export const HANGUP_CONFIRM_MS = 1_000;
/** A read of 0 that took longer than this blocked first: the host was connected during it. */
const BLOCKED_READ_MS = 50;

/** Device node of the virtio-serial port with this name, found through sysfs (there is no udev in the guest). */
export async function findVirtioPort(name: string): Promise<string | null> {
  let entries: string[];
  try {
    entries = await readdir(SYSFS_PORTS);
  } catch {
    return null;
  }
  for (const entry of entries.sort()) {
    try {
      if ((await readFile(join(SYSFS_PORTS, entry, 'name'), 'utf8')).trim() === name) return `/dev/${entry}`;
    } catch {
      // a port without a name
    }
  }
  return null;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class CharDeviceStream extends Duplex {
  private readonly buffer = Buffer.allocUnsafe(READ_SIZE);
  private readonly writer: ChildProcess & { stdin: Writable };
  private reader: (ChildProcess & { stdout: Readable }) | undefined;
  private idleLoop: Promise<void> | undefined;
  private hostConnected = false;
  /** Start of the current run of reads that returned 0 while a host counted as connected. */
  private zeroReadsSince: number | undefined;

  private constructor(private readonly handle: FileHandle) {
    super({ allowHalfOpen: true });
    this.writer = spawn('cat', [], { stdio: ['pipe', handle.fd, 'inherit'] }) as ChildProcess & { stdin: Writable };
    this.writer.stdin.on('error', (err) => this.destroy(err));
    this.writer.once('exit', (code, signal) => {
      if (!this.destroyed) this.destroy(new Error(`virtio-serial writer exited (${signal ?? code})`));
    });
  }

  /** Opens the device read-write and starts the writer. */
  static async open(path: string): Promise<CharDeviceStream> {
    return new CharDeviceStream(await open(path, 'r+'));
  }

  override _read(): void {
    if (this.reader) this.reader.stdout.resume();
    else this.idleLoop ??= this.waitForHost().finally(() => (this.idleLoop = undefined));
  }

  /** Blocking reads on the pool until a host sends something, then hands over to a reader. */
  private async waitForHost(): Promise<void> {
    while (!this.destroyed && !this.reader) {
      let bytesRead: number;
      const readStarted = Date.now();
      try {
        ({ bytesRead } = await this.handle.read(this.buffer, 0, READ_SIZE, null));
      } catch (err) {
        if (this.destroyed) return;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EBADF' || code === 'ENODEV') {
          this.destroy(err as Error); // port unplugged: the caller reopens
          return;
        }
        await sleep(IDLE_RETRY_MS);
        continue;
      }
      if (this.destroyed) return;
      if (bytesRead === 0) {
        this.noteZeroRead(Date.now() - readStarted > BLOCKED_READ_MS);
        await sleep(IDLE_RETRY_MS);
        continue;
      }
      this.hostConnected = true;
      this.zeroReadsSince = undefined;
      this.push(Buffer.from(this.buffer.subarray(0, bytesRead)));
      this.startReader(); // its bytes arrive in a later event, after these
      return;
    }
  }

  private startReader(): void {
    const reader = spawn('cat', [], { stdio: [this.handle.fd, 'pipe', 'inherit'] }) as ChildProcess & { stdout: Readable };
    this.reader = reader;
    reader.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) reader.stdout.pause();
    });
    reader.once('close', (code, signal) => {
      this.reader = undefined;
      if (this.destroyed) return;
      if (code !== 0) log(`virtio-serial reader exited (${signal ?? code})`);
      this.noteZeroRead(true);
      this._read();
    });
  }

  /** Counts a read of 0 towards a hangup; `restart` begins a new run (the host was there just before). */
  private noteZeroRead(restart: boolean): void {
    if (!this.hostConnected) return;
    const now = Date.now();
    if (restart || this.zeroReadsSince === undefined) this.zeroReadsSince = now;
    if (now - this.zeroReadsSince < HANGUP_CONFIRM_MS) return;
    this.hostConnected = false;
    this.zeroReadsSince = undefined;
    this.emit(HANGUP_EVENT);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.writer.stdin.write(chunk)) callback();
    else this.writer.stdin.once('drain', () => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.reader?.kill('SIGKILL');
    this.writer.kill('SIGKILL');
    // A blocking read may still be parked on a pool thread; closing the fd under it is what ends it.
    this.handle.close().then(() => callback(error), () => callback(error));
  }
}
