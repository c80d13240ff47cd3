/**
 * How storage failures become hob errors: "no space" anywhere (a command's
 * stderr, an errno) is PoolFullError (HTTP 507); anything else is a HobError
 * 'internal' that carries the command line and its stderr.
 */
import { execa, ExecaError } from 'execa';
import { HobError, PoolFullError } from '../errors.js';

const NO_SPACE = /No space left on device|ENOSPC|Disk quota exceeded|EDQUOT/;

/** True if `err` (an errno error, an ExecaError, a HobError) means the pool is out of space. */
export function isNoSpace(err: unknown): boolean {
  if (err instanceof PoolFullError) return true;
  const e = err as { code?: unknown; stderr?: unknown; message?: unknown };
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return true;
  return (typeof e?.stderr === 'string' && NO_SPACE.test(e.stderr))
    || (typeof e?.message === 'string' && NO_SPACE.test(e.message));
}

/** Wraps a failed filesystem call (errno error) on `path`. ENOSPC becomes PoolFullError. */
export function fsError(op: string, path: string, err: unknown): HobError {
  if (err instanceof HobError) return err;
  const msg = `${op} ${path}: ${(err as Error)?.message ?? String(err)}`;
  if (isNoSpace(err)) return new PoolFullError(`storage pool is full: ${msg}`, { cause: err });
  return new HobError('internal', msg, { cause: err });
}

/**
 * Runs a command (argument array, no shell) with the C locale so that its
 * messages can be matched. Resolves with stdout.
 * @throws PoolFullError when the command reports no space; HobError 'internal'
 *   with the command line and stderr for any other failure (including a missing binary).
 */
export async function run(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const r = await execa(cmd, args, { env: { LC_ALL: 'C' }, stdin: 'ignore' });
    return r.stdout;
  } catch (err) {
    const line = [cmd, ...args].join(' ');
    if (err instanceof ExecaError) {
      const detail = (err.stderr || err.stdout || err.shortMessage).trim();
      if (isNoSpace(err)) throw new PoolFullError(`storage pool is full: ${line}: ${detail}`, { cause: err });
      throw new HobError('internal', `${line} failed: ${detail}`, { cause: err });
    }
    throw new HobError('internal', `${line} failed: ${String(err)}`, { cause: err });
  }
}
