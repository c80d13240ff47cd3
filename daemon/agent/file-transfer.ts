/** Streaming file transfers: fs.read and fs.write channels. */
import { PassThrough, type Readable } from 'node:stream';
import { AgentError, GuestError } from '../errors.js';
import { ReadySchemas, ResultSchemas, StreamId, type Channel, type ResultOf } from '../protocol/index.js';
import { firstAnswer, lostChannel, parseFromGuest } from './answer.js';

export interface FileReader {
  /** Bytes that will follow for a regular file; 0 for special files, which stream until their end. */
  readonly size: number;
  /**
   * The bytes. Ends after the agent's EOF; errors with AgentError if the
   * connection is lost midway (never a silent truncation) or GuestError if the
   * read fails in the guest. Destroying it abandons the transfer.
   */
  readonly stream: Readable;
}

/**
 * Opens the reader once the agent answered `ready`. A transfer that failed
 * before the caller got it (`ready` then `error` or CLOSE in one read) rejects
 * instead: the caller is never handed a stream that already errored.
 */
export async function openFileReader(channel: Channel, what: string): Promise<FileReader> {
  const reader = await firstAnswer(channel, 'ready', what, (value) => {
    const ready = parseFromGuest(ReadySchemas['fs.read'], value, what);
    return readerFor(channel, ready.size, what);
  });
  if (reader.stream.destroyed && !reader.stream.readableEnded) {
    // Only a failure can have destroyed it this early (the caller has not had it yet).
    throw reader.stream.errored ?? lostChannel(what, undefined);
  }
  return reader;
}

function readerFor(channel: Channel, size: number, what: string): FileReader {
  const source = channel.readable(StreamId.Stdout);
  const out = new PassThrough();
  // The agent may fail the transfer before the caller listens (in the same read as `ready`):
  // with a listener from the start, such an error is never an uncaught exception in hobd.
  out.on('error', () => undefined);
  source.pipe(out, { end: false });
  source.on('end', () => {
    if (channel.receivedEof(StreamId.Stdout)) out.end();
    else out.destroy(lostChannel(what, undefined));
  });
  channel.on('control', (message) => {
    if (message.type === 'error') out.destroy(new GuestError(message.code, `${what}: ${message.message}`));
  });
  channel.once('close', (error) => {
    if (error) out.destroy(lostChannel(what, error));
  });
  out.once('close', () => {
    if (!out.writableFinished) channel.close();
  });
  return { size, stream: out };
}

/** What writeFile accepts: a buffer or any stream of buffers. */
export type WriteSource = Buffer | Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface WriteFileOptions {
  /** Mode of a newly created file (default 0644); an existing file keeps its mode and owner. */
  mode?: number;
  /** Create missing parent directories. */
  mkdirs?: boolean;
  /** Aborting abandons the transfer: the guest removes the partial temp file. */
  signal?: AbortSignal;
}

export async function writeFileFrom(channel: Channel, data: WriteSource, what: string, signal?: AbortSignal): Promise<ResultOf<'fs.write'>> {
  const onAbort = (): void => channel.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw new AgentError(`${what}: aborted`);
    let guestFailure: GuestError | undefined;
    // Listen for the result (or an error) from the moment of `ready`: the agent may fail midway.
    const answer = await firstAnswer(channel, 'ready', what, (value) => {
      parseFromGuest(ReadySchemas['fs.write'], value, what);
      channel.on('control', (message) => {
        if (message.type === 'error') guestFailure = new GuestError(message.code, `${what}: ${message.message}`);
      });
      const result = firstAnswer(channel, 'result', what);
      result.catch(() => undefined);
      return { result };
    });
    try {
      if (data instanceof Uint8Array) {
        await channel.sendData(StreamId.Stdin, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      } else {
        for await (const chunk of data) {
          if (channel.isClosed) break;
          await channel.sendData(StreamId.Stdin, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
        }
      }
    } catch (err) {
      const interrupted = channel.isClosed;
      channel.close(); // abandon: the agent discards the temp file
      // The agent's own answer explains a failed send better than the send does.
      if (guestFailure) throw guestFailure;
      if (signal?.aborted) throw new AgentError(`${what}: aborted`, { cause: err });
      throw new AgentError(`${what}: ${interrupted ? `transfer interrupted: ${String(err)}` : `source failed: ${String(err)}`}`, { cause: err });
    }
    if (guestFailure) throw guestFailure;
    if (signal?.aborted) throw new AgentError(`${what}: aborted`);
    channel.sendEof(StreamId.Stdin);
    return parseFromGuest(ResultSchemas['fs.write'], await answer.result, what);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
