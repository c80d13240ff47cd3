/**
 * Failures the agent reports to the host as an `error` message: `code` is an
 * errno name (ENOENT, EACCES, EISDIR, ...) or one of the protocol codes below.
 */

/** The request did not match its schema. */
export const EBADREQ = 'EBADREQ';
/** The operation is unknown to this agent or disabled. */
export const ENOTSUP = 'ENOTSUP';
/** The exec's user is neither in /etc/passwd nor a numeric uid. */
export const ENOUSER = 'ENOUSER';

export class OpError extends Error {
  override name = 'OpError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** strerror texts printed by external tools (fsfreeze, date, ...) mapped back to errno names. */
const STRERROR_CODES: ReadonlyArray<readonly [string, string]> = [
  ['Operation not supported', 'EOPNOTSUPP'],
  ['Inappropriate ioctl for device', 'ENOTTY'],
  ['Invalid argument', 'EINVAL'],
  ['Device or resource busy', 'EBUSY'],
  ['Operation not permitted', 'EPERM'],
  ['Permission denied', 'EACCES'],
  ['No such file or directory', 'ENOENT'],
  ['Read-only file system', 'EROFS'],
];

/** errno name found in a tool's error output, or EIO. */
export function codeFromMessage(text: string): string {
  for (const [needle, code] of STRERROR_CODES) if (text.includes(needle)) return code;
  return 'EIO';
}

/** Any thrown value as an OpError, keeping a Node errno code when there is one. */
export function toOpError(err: unknown): OpError {
  if (err instanceof OpError) return err;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return new OpError(code, err.message);
    return new OpError('EIO', err.message);
  }
  return new OpError('EIO', String(err));
}
