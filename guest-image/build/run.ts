/**
 * Runs a build tool, streaming its output lines (stdout and stderr merged) to a
 * callback, and turns a failure into an ImageBuildError that quotes the tail of
 * the output.
 */
import { execa } from 'execa';
import { ImageBuildError } from './errors.js';

export interface RunOptions {
  /** Called with every output line, without the newline. */
  readonly onLine?: (line: string) => void;
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  readonly signal?: AbortSignal;
}

const tailLines = 30;

/** Runs `file args`; resolves with its stdout. Throws ImageBuildError on a non-zero exit. */
export async function runTool(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const tail: string[] = [];
  const proc = execa(file, args, {
    all: true,
    reject: false,
    stdin: 'ignore',
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    // mmdebstrap cleans up its mounts on SIGTERM; give it time before SIGKILL.
    forceKillAfterDelay: 30_000,
  });
  for await (const line of proc.iterable({ from: 'all' })) {
    tail.push(line);
    if (tail.length > tailLines) tail.shift();
    opts.onLine?.(line);
  }
  const r = await proc;
  if (r.isCanceled) throw new ImageBuildError(`${file} was aborted`);
  if (r.exitCode !== 0) {
    const why = r.exitCode === undefined ? (r.signal ?? 'failed to start') : `exit code ${r.exitCode}`;
    throw new ImageBuildError(`${file} ${args.slice(0, 3).join(' ')} ... failed (${why}):\n${tail.join('\n')}`);
  }
  return r.stdout;
}
