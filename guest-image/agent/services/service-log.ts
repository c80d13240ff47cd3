/**
 * The log of one service: every line its process writes (and the
 * supervisor's own lines) goes to
 *   - a file, /var/log/hob/services/<name>.log, capped at LOG_MAX_BYTES with
 *     one rotation (<name>.log.1), so it survives reboots and stays bounded;
 *   - an in-memory tail of the last LOG_TAIL_ENTRIES entries, seeded from the
 *     file when the agent starts, from which `service.logs` answers;
 *   - the followers subscribed at that moment (`hob logs -f`).
 *
 * File writes are asynchronous and queued: while the root filesystem is frozen
 * (checkpoint) they wait in libuv's pool without blocking the event loop (a
 * synchronous write there would deadlock the agent, thaw included). When the
 * queue grows past BACKLOG_BYTES, `backlogged` turns true and the supervisor
 * pauses the process's pipes until `drain`: the process then blocks on its
 * own writes instead of the agent buffering without bound.
 *
 * Write failures (disk full, ...) are reported once on the console and the
 * lines dropped from the file; the in-memory tail and the followers still
 * get them.
 */
import { EventEmitter } from 'node:events';
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ServiceLogEntry } from '../../../daemon/protocol/index.js';
import { log } from '../log.js';
import { formatLogLine, parseLogLine } from './log-format.js';

/** Size at which the log file is rotated. */
export const LOG_MAX_BYTES = 4 * 1024 * 1024;
/** Entries kept in memory (the most `service.logs` answers with). */
export const LOG_TAIL_ENTRIES = 1000;
/** Longer lines are split into pieces of this many characters. */
export const MAX_LINE_CHARS = 16 * 1024;
/** Queued bytes past which the producer should pause. */
export const BACKLOG_BYTES = 1024 * 1024;
/** How much of the file's end is read to seed the in-memory tail. */
const SEED_BYTES = 512 * 1024;
/** Largest single file write. */
const BATCH_BYTES = 256 * 1024;

export interface ServiceLogEvents {
  /** The write queue went back under BACKLOG_BYTES / 2. */
  drain: [];
  /** Everything queued so far is written (or dropped after an error). */
  idle: [];
}

export class ServiceLog extends EventEmitter<ServiceLogEvents> {
  private ring: ServiceLogEntry[] = [];
  private readonly followers = new Set<(entry: ServiceLogEntry) => void>();
  private queue: string[] = [];
  private queuedBytes = 0;
  private handle: FileHandle | undefined;
  private size = 0;
  private pumping = false;
  private reported = false;
  /** Resolves once the in-memory tail holds what the file had. */
  readonly loaded: Promise<void>;

  constructor(
    /** The log file. */
    readonly path: string,
    private readonly maxBytes = LOG_MAX_BYTES,
  ) {
    super();
    this.loaded = this.seed();
  }

  /** Whether the producer should pause (see the module comment). */
  get backlogged(): boolean {
    return this.queuedBytes > BACKLOG_BYTES;
  }

  /** Records one entry: tail, followers, file. */
  append(entry: ServiceLogEntry): void {
    this.ring.push(entry);
    // Trimmed in steps, not on every line.
    if (this.ring.length > LOG_TAIL_ENTRIES + 100) this.ring = this.ring.slice(-LOG_TAIL_ENTRIES);
    for (const follower of this.followers) {
      try {
        follower(entry);
      } catch (err) {
        log(`log follower of ${this.path}: ${String(err)}`);
      }
    }
    const line = `${formatLogLine(entry)}\n`;
    this.queue.push(line);
    this.queuedBytes += Buffer.byteLength(line);
    void this.pump();
  }

  /** The last `count` entries, oldest first. Call after `loaded` for the file's part. */
  tail(count: number): ServiceLogEntry[] {
    if (count <= 0) return [];
    return this.ring.slice(-Math.min(count, LOG_TAIL_ENTRIES));
  }

  /** Calls `follower` with every later entry until the returned function is called. */
  follow(follower: (entry: ServiceLogEntry) => void): () => void {
    this.followers.add(follower);
    return () => this.followers.delete(follower);
  }

  /** A sink for one of the process's output streams: splits it into lines. */
  lineSink(stream: 'stdout' | 'stderr'): LineSplitter {
    return new LineSplitter((data) => this.append({ time: Date.now(), stream, data }));
  }

  /** Resolves once every entry appended so far reached the file (or was dropped). */
  async flush(): Promise<void> {
    while (this.pumping || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.once('idle', resolve));
    }
  }

  /** Flushes and closes the file (it is reopened by the next append). */
  async close(): Promise<void> {
    await this.flush();
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close().catch(() => undefined);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      // The file is read for the tail first, so that what is read is not also in the ring already.
      await this.loaded;
      while (this.queue.length > 0) {
        let taken = 0;
        let bytes = 0;
        // A batch never exceeds a quarter of the cap, so rotating before it keeps the file under the cap.
        const limit = Math.min(BATCH_BYTES, Math.floor(this.maxBytes / 4));
        while (taken < this.queue.length) {
          const size = Buffer.byteLength(this.queue[taken] as string);
          if (taken > 0 && bytes + size > limit) break;
          bytes += size;
          taken++;
        }
        const batch = this.queue.splice(0, taken).join('');
        try {
          await this.write(batch, bytes);
          this.reported = false;
        } catch (err) {
          if (!this.reported) log(`cannot write ${this.path}, dropping lines: ${String(err)}`);
          this.reported = true;
          const handle = this.handle;
          this.handle = undefined;
          await handle?.close().catch(() => undefined);
        }
        const wasBacklogged = this.backlogged;
        this.queuedBytes -= bytes;
        if (wasBacklogged && this.queuedBytes <= BACKLOG_BYTES / 2) this.emit('drain');
      }
    } finally {
      this.pumping = false;
      this.emit('idle');
    }
  }

  private async write(batch: string, bytes: number): Promise<void> {
    if (!this.handle) {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o755 });
      this.handle = await open(this.path, 'a', 0o640);
      this.size = (await this.handle.stat()).size;
    }
    if (this.size > 0 && this.size + bytes > this.maxBytes) {
      await this.handle.close();
      this.handle = undefined;
      await rename(this.path, `${this.path}.1`);
      this.handle = await open(this.path, 'a', 0o640);
      this.size = 0;
    }
    await this.handle.write(batch);
    this.size += bytes;
  }

  /** Fills the in-memory tail from the end of the file (and of its rotation when the file is short). */
  private async seed(): Promise<void> {
    try {
      const current = await readTail(this.path, SEED_BYTES);
      const older = current.complete && current.text.length < SEED_BYTES ? await readTail(`${this.path}.1`, SEED_BYTES - current.text.length) : { text: '', complete: true };
      const text = older.text + current.text;
      const lines = text.split('\n');
      // A tail that starts mid-file starts mid-line.
      if (!current.complete || !older.complete) lines.shift();
      const seeded: ServiceLogEntry[] = [];
      for (const line of lines) {
        const entry = line === '' ? undefined : parseLogLine(line);
        if (entry) seeded.push(entry);
      }
      this.ring = [...seeded, ...this.ring].slice(-LOG_TAIL_ENTRIES);
    } catch (err) {
      log(`cannot read ${this.path}: ${String(err)}`);
    }
  }
}

/** The last `max` bytes of a file as text; `complete` when that is the whole file. A missing file is empty. */
async function readTail(path: string, max: number): Promise<{ text: string; complete: boolean }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', complete: true };
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, Math.max(0, max));
    const buffer = Buffer.alloc(length);
    if (length > 0) await handle.read(buffer, 0, length, size - length);
    return { text: buffer.toString('utf8'), complete: length === size };
  } finally {
    await handle.close();
  }
}

/**
 * Splits a byte stream into lines (UTF-8, invalid bytes replaced). A trailing
 * "\r" is dropped; lines over MAX_LINE_CHARS are cut into pieces; whatever is
 * left without a newline comes out at end().
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly emit: (line: string) => void) {}

  write(chunk: Buffer): void {
    const pieces = (this.partial + this.decoder.write(chunk)).split('\n');
    this.partial = pieces.pop() as string;
    for (const piece of pieces) this.line(piece);
    while (this.partial.length >= MAX_LINE_CHARS) {
      this.emit(this.partial.slice(0, MAX_LINE_CHARS));
      this.partial = this.partial.slice(MAX_LINE_CHARS);
    }
  }

  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.line(rest);
  }

  private line(text: string): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (line.length <= MAX_LINE_CHARS) {
      this.emit(line);
      return;
    }
    for (let i = 0; i < line.length; i += MAX_LINE_CHARS) this.emit(line.slice(i, i + MAX_LINE_CHARS));
  }
}
