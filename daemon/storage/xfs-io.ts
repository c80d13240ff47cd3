/**
 * Runs `xfs_io` (xfsprogs), which reads extent maps and clones ranges for in-place restores
 * (docs/architecture.md §30). xfs_io reports a failed command on stderr and may still exit
 * 0, so any stderr is a failure here.
 */
import { execa } from 'execa';
import { HobError, PoolFullError } from '../errors.js';
import { isNoSpace } from './errors.js';

export interface XfsIoOptions {
  /** Working directory: xfs_io splits each command on blanks, so paths inside commands are relative to it. */
  readonly cwd?: string | undefined;
  /** Bytes of output read at most; past it: XfsIoOutputTooLargeError. */
  readonly maxOutput?: number | undefined;
}

/** xfs_io printed more than `maxOutput` bytes. */
export class XfsIoOutputTooLargeError extends HobError {}

/**
 * Runs xfs_io with `args` (commands as `-c` pairs, then files). Resolves with its stdout.
 * @throws XfsIoOutputTooLargeError; PoolFullError when it reports no space; HobError
 *   'internal' for any other failure, including a missing xfs_io.
 */
export async function xfsIo(args: readonly string[], options: XfsIoOptions = {}): Promise<string> {
  const r = await execa('xfs_io', args, { cwd: options.cwd, env: { LC_ALL: 'C' }, stdin: 'ignore', reject: false, maxBuffer: options.maxOutput ?? 1024 * 1024 });
  if (r.isMaxBuffer) throw new XfsIoOutputTooLargeError('internal', `xfs_io printed more than ${options.maxOutput} bytes`);
  const stderr = String(r.stderr ?? '').trim();
  if (r.exitCode !== 0 || stderr !== '') {
    const message = `xfs_io failed: ${(stderr || r.shortMessage || '').slice(0, 500)}`;
    throw isNoSpace({ stderr }) ? new PoolFullError(`storage pool is full: ${message}`) : new HobError('internal', message);
  }
  return String(r.stdout ?? '');
}
