/**
 * Running a guest process to completion for the plain HTTP exec forms (no
 * session: the process belongs to the request, and ends with it).
 */
import type { Readable } from 'node:stream';
import type { ExecProcess, ExecStatus } from '../agent/exec.js';
import { exitCodeOf } from '../core/guest-process.js';

export interface RunOptions {
  /** Input: a buffer (written then EOF), a stream (piped, EOF at its end), or none (EOF at once). */
  readonly stdin?: Buffer | Readable;
  /** Kill the process (SIGKILL) after this long. */
  readonly timeoutMs?: number;
  /** The client went away: abandon the process (the agent hangs it up, then kills it). */
  readonly abort?: AbortSignal;
}

export interface RunResult {
  /** Null when the guest connection was lost before the exit was known. */
  readonly status: ExecStatus | null;
  /** Shell-style exit code (255 when unknown). */
  readonly exitCode: number;
  readonly timedOut: boolean;
  /** Why the status is unknown. */
  readonly error: string | null;
}

const OUTPUT_DRAIN_MS = 2_000;

export async function runProcess(process: ExecProcess, onOutput: (stream: 1 | 2, data: Buffer) => void, options: RunOptions = {}): Promise<RunResult> {
  const stdin = process.stdin;
  if (stdin) {
    stdin.on('error', () => undefined); // the process may exit without reading its input
    if (options.stdin === undefined) stdin.end();
    else if (Buffer.isBuffer(options.stdin)) stdin.end(options.stdin);
    else {
      options.stdin.on('error', () => stdin.end());
      options.stdin.pipe(stdin);
    }
  }
  process.stdout.on('data', (data: Buffer) => onOutput(1, data));
  process.stderr.on('data', (data: Buffer) => onOutput(2, data));
  const outputDone = Promise.all([ended(process.stdout), ended(process.stderr)]);

  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          try {
            process.signal('SIGKILL');
          } catch {
            // Already gone.
          }
        }, options.timeoutMs);
  const onAbort = (): void => process.close();
  if (options.abort?.aborted) onAbort();
  options.abort?.addEventListener('abort', onAbort, { once: true });

  try {
    const status = await process.exited;
    await Promise.race([outputDone, delay(OUTPUT_DRAIN_MS)]);
    return { status, exitCode: exitCodeOf(status), timedOut, error: null };
  } catch (err) {
    return { status: null, exitCode: 255, timedOut, error: err instanceof Error ? err.message : String(err) };
  } finally {
    if (timer) clearTimeout(timer);
    options.abort?.removeEventListener('abort', onAbort);
  }
}

function ended(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
