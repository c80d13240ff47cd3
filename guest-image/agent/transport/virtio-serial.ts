/**
 * The virtio-serial transport (QEMU): the port named AGENT_VIRTIO_PORT_NAME,
 * as a Duplex that lives as long as the agent.
 *
 * The device is a character device Node cannot poll, so reads and writes are
 * blocking calls on libuv's thread pool (see threadpool.ts for its size). A
 * virtio-serial port behaves unlike a socket: while no host is connected,
 * read() returns 0 at once and write() blocks; the host may connect and
 * disconnect at any time. The stream therefore never ends: a 0-byte read after
 * data emits HANGUP_EVENT (the session resets its channels) and reading retries
 * after a short delay.
 */
import { readdir, readFile, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { HANGUP_EVENT } from './hangup.js';

const SYSFS_PORTS = '/sys/class/virtio-ports';
const READ_SIZE = 64 * 1024;
/** Delay between reads while no host is connected. */
export const IDLE_RETRY_MS = 100;

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
  private reading = false;
  private wantMore = false;
  private hostConnected = false;
  private readonly buffer = Buffer.allocUnsafe(READ_SIZE);

  private constructor(private readonly handle: FileHandle) {
    super({ allowHalfOpen: true });
  }

  /** Opens the device read-write. */
  static async open(path: string): Promise<CharDeviceStream> {
    return new CharDeviceStream(await open(path, 'r+'));
  }

  override _read(): void {
    this.wantMore = true;
    if (!this.reading) void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    this.reading = true;
    while (this.wantMore && !this.destroyed) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(this.buffer, 0, READ_SIZE, null));
      } catch (err) {
        if (this.destroyed) break;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EBADF' || code === 'ENODEV') {
          this.destroy(err as Error); // port unplugged: the caller reopens
          break;
        }
        await sleep(IDLE_RETRY_MS);
        continue;
      }
      if (bytesRead === 0) {
        if (this.hostConnected) {
          this.hostConnected = false;
          this.emit(HANGUP_EVENT);
        }
        await sleep(IDLE_RETRY_MS);
        continue;
      }
      this.hostConnected = true;
      this.wantMore = this.push(Buffer.from(this.buffer.subarray(0, bytesRead)));
    }
    this.reading = false;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll(chunk).then(() => callback(), (err: Error) => callback(err));
  }

  private async writeAll(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, offset, chunk.length - offset, null);
      offset += bytesWritten;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A read or write may still be parked on a pool thread; closing the fd under it is what ends it.
    this.handle.close().then(() => callback(error), () => callback(error));
  }
}
