/**
 * Runs the ext4 reader process (reader-main.ts) on two guest images and
 * hands hobd its validated answer lines. The host kernel never parses the
 * images: hobd only opens the two files read-only (as root; they may be
 * 0600 root-only) and passes the open descriptors to the reader as fds 3
 * and 4, and the reader parses them in user space:
 * - as READER_UID (nobody) with no capabilities, no supplementary groups and
 *   no_new_privs (setpriv; the reader switches uid itself once its code is
 *   loaded, so hob may live in a directory only root can read), so it can
 *   read nothing but what it inherited and what every user can;
 * - with RLIMIT_DATA = READER_MEMORY_BYTES and a V8 heap cap (a memory bomb
 *   aborts it), RLIMIT_CPU and a wall-clock timeout that SIGKILLs it
 *   (prlimit, a timer), no core dumps;
 * - its output is hostile input: read as a stream, one line at most
 *   `maxLineBytes`, every line checked with zod, the reader killed as soon as
 *   hobd has what it wants (the entry cap) or sees anything wrong.
 * A reader that crashes, exceeds a limit or prints garbage becomes an
 * ImageUnreadableError; hobd itself is never at risk.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HobError } from '../../errors.js';
import { CorruptImageError, ImageUnreadableError } from './errors.js';
import { ReaderLineSchema, type ReaderLine, type ReaderRequest } from './protocol.js';

/** The unprivileged uid/gid the reader runs as when hobd is root (nobody/nogroup). */
export const READER_UID = 65534;
/** Memory (RLIMIT_DATA: heap and anonymous mappings) of the reader: a large diff needs ~100 MiB. */
export const READER_MEMORY_BYTES = 1024 * 1024 * 1024;
/** V8 heap of the reader (MiB), below READER_MEMORY_BYTES so that a JS memory bomb fails cleanly first. */
const READER_HEAP_MIB = 768;
/**
 * Default wall-clock limit of one reader run: a diff of a million files
 * takes well under a minute; a crafted image that makes it loop is killed here.
 */
export const READER_TIMEOUT_MS = 120_000;
/** Bytes of the reader's stderr kept for the error message. */
const STDERR_TAIL = 2048;

export interface ReaderRun {
  /** Wall-clock limit (ms); default READER_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Longest output line accepted (bytes). */
  readonly maxLineBytes: number;
}

/**
 * Runs the reader on `images` (older, newer) for `request`; `onLine` gets each
 * validated line and returns false to stop (the reader is killed then).
 * @throws HobError 'internal' if an image is missing or not a regular file;
 *   ImageUnreadableError if the image is invalid or the reader failed,
 *   exceeded a limit or broke the protocol; whatever `onLine` throws.
 */
export async function runReader(request: ReaderRequest, images: readonly [string, string], run: ReaderRun, onLine: (line: ReaderLine) => boolean): Promise<void> {
  const handles: FileHandle[] = [];
  try {
    for (const image of images) handles.push(await openImage(image));
    const privileges = process.getuid?.() === 0 ? { dropTo: READER_UID } : {};
    await spawnReader({ ...request, ...privileges }, handles.map((h) => h.fd), run, onLine);
  } finally {
    for (const h of handles) await h.close();
  }
}

async function openImage(image: string): Promise<FileHandle> {
  const fh = await open(image, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    throw new HobError('internal', `disk image ${image} is not readable: ${err.message}`, { cause: err });
  });
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw new HobError('internal', `disk image ${image} is not a regular file`);
  }
  return fh;
}

/** node [tsx] reader-main, behind prlimit and (as root) setpriv. */
function readerCommand(request: ReaderRequest, timeoutMs: number): [string, string[]] {
  const self = fileURLToPath(import.meta.url);
  const fromSource = self.endsWith('.ts');
  const main = self.replace(/run-reader\.(ts|js)$/, `reader-main.${fromSource ? 'ts' : 'js'}`);
  // From the source tree (tests, tsx), the reader needs the same TypeScript loader as hobd.
  const node = [process.execPath, `--max-old-space-size=${READER_HEAP_MIB}`, ...(fromSource ? ['--import', import.meta.resolve('tsx')] : []), main, JSON.stringify(request)];
  // CPU seconds: the wall-clock timeout bounds it anyway; this also holds if hobd's timer were late.
  const limits = ['prlimit', `--data=${READER_MEMORY_BYTES}`, `--cpu=${Math.ceil(timeoutMs / 1000) + 1}`, '--core=0', '--'];
  // As root: no_new_privs and no inheritable capabilities here; the reader itself becomes READER_UID
  // (losing every capability) after loading its code and before reading an image (reader-main.ts).
  const drop = request.dropTo !== undefined ? ['setpriv', '--no-new-privs', '--inh-caps=-all', '--'] : [];
  const argv = [...limits, ...drop, ...node];
  return [argv[0] as string, argv.slice(1)];
}

async function spawnReader(request: ReaderRequest, fds: number[], run: ReaderRun, onLine: (line: ReaderLine) => boolean): Promise<void> {
  const timeoutMs = run.timeoutMs ?? READER_TIMEOUT_MS;
  const [file, args] = readerCommand(request, timeoutMs);
  // node:child_process rather than execa: execa cannot hand a child an open descriptor beyond stdio 2.
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe', fds[0] as number, fds[1] as number],
    cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  const { stdout, stderr: errStream } = child;
  if (!stdout || !errStream) throw new HobError('internal', 'the ext4 reader has no output pipes');
  // Stream errors (EPIPE after a kill...) change nothing: the exit status and `failure` tell what happened.
  stdout.on('error', () => undefined);
  errStream.on('error', () => undefined);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: Error }>((resolve) => {
    child.once('error', (err) => resolve({ code: null, signal: null, spawnError: err }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
  let stderr = '';
  errStream.on('data', (d: Buffer) => { stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL); });
  let failure: Error | undefined;
  let stopped = false;
  let errorLine: Extract<ReaderLine, { t: 'error' }> | undefined;
  const stop = (err?: Error): void => {
    if (err && !failure) failure = err;
    if (!stopped) {
      stopped = true;
      child.kill('SIGKILL');
    }
  };
  const handle = (text: string): void => {
    if (stopped) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return stop(new ImageUnreadableError('the reader printed invalid output'));
    }
    const r = ReaderLineSchema.safeParse(parsed);
    if (!r.success) return stop(new ImageUnreadableError(`the reader printed invalid output: ${r.error.issues[0]?.message ?? ''}`));
    if (r.data.t === 'error') {
      errorLine = r.data;
      return;
    }
    try {
      if (!onLine(r.data)) stop();
    } catch (err) {
      stop(err as Error);
    }
  };
  let partial: Buffer[] = [];
  let partialBytes = 0;
  stdout.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1 && !stopped; nl = chunk.indexOf(10, start)) {
      partial.push(chunk.subarray(start, nl));
      handle(Buffer.concat(partial).toString('utf8'));
      partial = [];
      partialBytes = 0;
      start = nl + 1;
    }
    if (stopped) return;
    partial.push(chunk.subarray(start));
    partialBytes += chunk.length - start;
    if (partialBytes > run.maxLineBytes) stop(new ImageUnreadableError(`the reader printed a line longer than ${run.maxLineBytes} bytes`));
  });
  const result = await exited.finally(() => clearTimeout(timer));
  if (result.spawnError) throw new HobError('internal', `cannot start the ext4 reader: ${result.spawnError.message}`, { cause: result.spawnError });
  if (failure) throw failure;
  if (stopped) return;
  if (timedOut) throw new ImageUnreadableError(`reading took longer than ${timeoutMs} ms (the reader was stopped)`);
  if (errorLine) {
    const Cls = errorLine.corrupt ? CorruptImageError : Error;
    throw new ImageUnreadableError(errorLine.message, { cause: new Cls(errorLine.message) });
  }
  if (result.code !== 0 || result.signal) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    // The line that says what went wrong (an Error's first line, V8's heap message), not its stack.
    const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^at |^\d+: 0x|^Node\.js v/.test(l));
    const tail = [...lines].reverse().find((l) => /error|memory|limit/i.test(l)) ?? lines[lines.length - 1] ?? '';
    throw new ImageUnreadableError(`the reader process ${why} (a memory or CPU limit, or a crash)${tail ? `: ${tail}` : ''}`);
  }
}
