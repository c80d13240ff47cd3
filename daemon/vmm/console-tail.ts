/**
 * Reading the end of a VM's console log (console-log.ts writes it: `console.log`, the newest
 * output, and `console.log.1`, the rotated one before it). The bytes are the guest's,
 * hostile: anything, any encoding. Reads are bounded by the caller's `maxBytes` whatever the
 * files hold, and never follow a symlink.
 */
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';

export interface ConsoleTail {
  /** The last bytes of the log, oldest first (at most the asked-for count). */
  readonly bytes: Buffer;
  /** Bytes both files held when read; more than `bytes.length` when the tail was cut. */
  readonly availableBytes: number;
  /** False when no log file exists (the VM never booted since the host started, or its run dir is gone). */
  readonly exists: boolean;
  /** Where the tail ended in the current file, for followConsole; undefined when there was none. */
  readonly cursor: ConsoleCursor | undefined;
}

export interface ConsoleCursor {
  readonly ino: number;
  readonly size: number;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

async function openIfThere(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, READ_FLAGS);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads `[from, from + length)` of `fh`; fewer bytes if the file is shorter now. */
async function readRange(fh: FileHandle, from: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, from + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/**
 * The last `maxBytes` of the console log at `logPath` (and its rotated `<logPath>.1`).
 * Both files are opened before either is read, and the current one first: a rotation in
 * between leaves two handles on the same file, which is then read once.
 */
export async function readConsoleTail(logPath: string, maxBytes: number): Promise<ConsoleTail> {
  const current = await openIfThere(logPath);
  const rotated = await openIfThere(`${logPath}.1`).catch(async (err: unknown) => {
    await current?.close();
    throw err;
  });
  try {
    const [cur, rot] = await Promise.all([current?.stat(), rotated?.stat()]);
    // Regular files only: a FIFO or a device put there would block or never end.
    const curSize = cur?.isFile() ? cur.size : 0;
    const sameFile = cur !== undefined && rot !== undefined && cur.ino === rot.ino && cur.dev === rot.dev;
    const rotSize = rot?.isFile() && !sameFile ? rot.size : 0;
    const fromCurrent = Math.min(curSize, maxBytes);
    const fromRotated = Math.min(rotSize, maxBytes - fromCurrent);
    const parts: Buffer[] = [];
    if (fromRotated > 0 && rotated) parts.push(await readRange(rotated, rotSize - fromRotated, fromRotated));
    if (fromCurrent > 0 && current) parts.push(await readRange(current, curSize - fromCurrent, fromCurrent));
    return {
      bytes: Buffer.concat(parts),
      availableBytes: curSize + rotSize,
      exists: current !== undefined || rotated !== undefined,
      cursor: cur?.isFile() ? { ino: cur.ino, size: curSize } : undefined,
    };
  } finally {
    await Promise.all([current?.close(), rotated?.close()]);
  }
}

/** Most bytes one poll of followConsole reads; a guest writing faster loses the middle (and is told so). */
export const FOLLOW_MAX_READ_BYTES = 256 * 1024;

export interface FollowOptions {
  /** Where the tail read before ended (ConsoleTail.cursor): output after it is new. */
  readonly from: ConsoleCursor | undefined;
  /** Ends the follow. */
  readonly signal: AbortSignal;
  /** Between two looks at the file (default 500 ms). */
  readonly pollMs?: number;
}

/**
 * New console output after what readConsoleTail returned: yields chunks as the log grows,
 * across rotations (the old file's rest, then the new file from its start) and reboots
 * (the run dir emptied, a new file later), until `signal` aborts. Polls: the log is written
 * by hobd itself in batches, and a poll costs one lstat. At most FOLLOW_MAX_READ_BYTES per
 * poll; beyond that the chunk says how much was skipped.
 */
export async function* followConsole(logPath: string, options: FollowOptions): AsyncGenerator<Buffer> {
  const pollMs = options.pollMs ?? 500;
  let fh = await openIfThere(logPath);
  const first = await fh?.stat();
  let ino = first?.ino;
  // The file the tail was read from: go on where it ended; another one (rotated since, or a boot): all of it is new.
  let pos = first && options.from?.ino === first.ino ? options.from.size : 0;
  const sleep = () =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, pollMs);
      options.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  /** What `handle` holds past `pos`, bounded. */
  const readNew = async (handle: FileHandle): Promise<Buffer | undefined> => {
    const st = await handle.stat();
    if (!st.isFile()) return undefined;
    if (st.size < pos) pos = 0; // truncated: start over
    const more = st.size - pos;
    if (more <= 0) return undefined;
    const skipped = Math.max(0, more - FOLLOW_MAX_READ_BYTES);
    const chunk = await readRange(handle, pos + skipped, more - skipped);
    pos += skipped + chunk.length;
    return skipped > 0 ? Buffer.concat([Buffer.from(`\n[hob: ${skipped} bytes of console output skipped]\n`), chunk]) : chunk;
  };
  try {
    while (!options.signal.aborted) {
      await sleep();
      if (options.signal.aborted) break;
      const now = await lstatIno(logPath);
      if (fh && now !== ino) {
        // Rotated (or the run dir was emptied for a boot): the old file's rest, then the new one.
        const rest = await readNew(fh);
        if (rest) yield rest;
        await fh.close();
        fh = undefined;
      }
      if (!fh && now !== undefined) {
        fh = await openIfThere(logPath);
        ino = now;
        pos = 0;
      }
      if (fh) {
        const chunk = await readNew(fh);
        if (chunk) yield chunk;
      }
    }
  } finally {
    await fh?.close();
  }
}

async function lstatIno(path: string): Promise<number | undefined> {
  try {
    return (await lstat(path)).ino;
  } catch {
    return undefined;
  }
}
