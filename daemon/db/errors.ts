/** SQLite constraint failures as hob errors. */
import { ConflictError, HobError } from '../errors.js';

/** The SQLITE_* code of `err` or of its cause (drizzle wraps driver errors in DrizzleQueryError). */
export function sqliteCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) return e.code;
  }
  return undefined;
}

/**
 * Re-throws `err` as ConflictError with `conflictMessage` if it is a UNIQUE or
 * PRIMARY KEY violation, as HobError 'internal' for other constraint failures
 * (a bug: callers validate first), else unchanged.
 */
export function mapConstraintError(err: unknown, conflictMessage: string): never {
  const code = sqliteCode(err);
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new ConflictError(conflictMessage);
  if (code?.startsWith('SQLITE_CONSTRAINT')) {
    const cause = (err as { cause?: { message?: string } }).cause;
    throw new HobError('internal', `database constraint failed (${code}): ${cause?.message ?? (err as Error).message}`, { cause: err });
  }
  throw err;
}
