/**
 * Reading the end of a VM's console log (console-log.ts writes it: `console.log`, the newest
 * output, and `console.log.1`, the rotated one before it). The bytes are the guest's,
 * hostile: anything, any encoding. Reads are bounded by the caller's `maxBytes` whatever the
 * files hold, and never follow a symlink.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export interface ConsoleTail {
  /** The last bytes of the log, oldest first (at most the asked-for count). */
  readonly bytes: Buffer;
  /** Bytes both files held when read; more than `bytes.length` when the tail was cut. */
  readonly availableBytes: number;
  /** False when no log file exists (the VM never booted since the host started, or its run dir is gone). */
  readonly exists: boolean;
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
    return { bytes: Buffer.concat(parts), availableBytes: curSize + rotSize, exists: current !== undefined || rotated !== undefined };
  } finally {
    await Promise.all([current?.close(), rotated?.close()]);
  }
}
