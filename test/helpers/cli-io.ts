/**
 * A CliIo over in-memory streams, for running the hob CLI in-process
 * (runCli / createProgram) and reading what it printed.
 */
import { PassThrough, Writable } from 'node:stream';
import type { CliIo } from '../../daemon/cli/context.js';

export interface CapturedIo extends CliIo {
  readonly stdin: PassThrough;
  stdoutText(): string;
  stderrText(): string;
  stdoutBytes(): Buffer;
}

class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    done();
  }
}

/** `stdin` is an open PassThrough: end it (or write to it) as the test needs. */
export function capturedIo(options: { cwd?: string; env?: Record<string, string | undefined> } = {}): CapturedIo {
  const stdout = new Sink();
  const stderr = new Sink();
  const stdin = new PassThrough();
  return {
    stdin,
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    onSignal: () => () => undefined,
    stdoutText: () => Buffer.concat(stdout.chunks).toString('utf8'),
    stderrText: () => Buffer.concat(stderr.chunks).toString('utf8'),
    stdoutBytes: () => Buffer.concat(stdout.chunks),
  };
}
