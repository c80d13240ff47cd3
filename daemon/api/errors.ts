/**
 * The one place where errors become HTTP responses.
 *
 * Every HobError maps to a status by its `code`; the body is
 * `{ "error": code, "message": text }` (the Sprites error shape: SDKs read
 * `error` and `message`). Anything that is not a HobError is a bug: it is
 * logged with its stack and answered with a bare 500 `{ "error": "internal" }`
 * so nothing about hob's internals leaks to the client.
 *
 * Errors reported by the guest for a file operation (GuestError with an errno
 * name) get the Sprites filesystem shape instead, see `fsErrorBody`.
 */
import { InvalidGuestAnswerError } from '../core/guest.js';
import { GuestError, HobError, type ErrorCode } from '../errors.js';

/** HTTP status per error code. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  pool_full: 507,
  // The VMM is ours: its failure is a bad gateway between the API and the sandbox.
  vmm_failed: 502,
  // The guest agent did not answer: the sandbox is unavailable right now.
  agent_failed: 503,
  // A guest failure without a known errno (see guestStatus for the known ones).
  guest_error: 500,
  timeout: 504,
  // A guest disk image hob's user-space ext4 reader could not read (corrupt, crafted, unsupported, reader limit): see storage/ext4/errors.ts.
  image_unreadable: 422,
  // Something hob deliberately does not do (NotSupportedError): the message says what to do instead.
  not_supported: 501,
  internal: 500,
};

/** JSON body of every error response (except file-operation errors, see FsErrorBody). */
export interface ErrorBody {
  /** Machine-readable code (an ErrorCode, or a more specific code for 401/403/404/413 raised by the API itself). */
  readonly error: string;
  /** Human-readable text; never a stack trace. */
  readonly message: string;
}

/**
 * Body of a file-operation error, in the shape the Sprites SDKs parse:
 * the JS and Go SDKs use `error` as the human message and `code` as the errno
 * name (ENOENT, EACCES, ...), `path` as the path concerned. hob adds `message`
 * (same text) so that every hob error body has `error` and `message`.
 */
export interface FsErrorBody {
  readonly error: string;
  readonly code: string;
  readonly path: string;
  readonly message: string;
}

/** Status of an errno-style guest error code. Unknown codes are 500 (the guest failed for a reason hob does not classify). */
export function guestStatus(guestCode: string): number {
  switch (guestCode) {
    case 'ENOENT':
      return 404;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 403;
    case 'EISDIR':
    case 'ENOTDIR':
    case 'EINVAL':
    case 'ENAMETOOLONG':
    case 'ELOOP':
    case 'EXDEV':
    case 'EBADREQ':
      return 400;
    case 'EEXIST':
    case 'ENOTEMPTY':
    case 'EBUSY':
      return 409;
    case 'EFBIG':
      return 413;
    case 'ENOSPC':
    case 'EDQUOT':
      return 507;
    case 'ENOTSUP':
      return 501;
    default:
      return 500;
  }
}

/** What an error turns into: status plus JSON body, and whether it deserves a log line with the stack. */
export interface ErrorResponse {
  readonly status: number;
  readonly body: ErrorBody;
  /** True for unexpected errors (bugs): the caller logs `cause` with its stack. */
  readonly unexpected: boolean;
}

export function errorResponse(err: unknown): ErrorResponse {
  if (err instanceof GuestError) {
    return { status: guestStatus(err.guestCode), body: { error: err.guestCode, message: err.message }, unexpected: false };
  }
  if (err instanceof InvalidGuestAnswerError) {
    // The guest broke the protocol (hostile or broken agent): a bad gateway, not "unavailable, retry".
    return { status: 502, body: { error: 'bad_gateway', message: err.message }, unexpected: false };
  }
  if (err instanceof HobError) {
    const status = STATUS_BY_CODE[err.code] ?? 500;
    return { status, body: { error: err.code, message: err.message }, unexpected: err.code === 'internal' };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' }, unexpected: true };
}

/**
 * Error response of a file operation on `path`. Guest errno errors get the
 * Sprites filesystem shape; everything else the ordinary error body.
 */
export function fsErrorResponse(err: unknown, path: string): { status: number; body: ErrorBody | FsErrorBody; unexpected: boolean } {
  if (err instanceof GuestError) {
    return {
      status: guestStatus(err.guestCode),
      body: { error: err.message, code: err.guestCode, path, message: err.message },
      unexpected: false,
    };
  }
  return errorResponse(err);
}

/** Raised by the API itself for a request without valid credentials. */
export class UnauthorizedError extends HobError {
  constructor(message: string) {
    super('unauthorized', message);
  }
}

/** Raised by the API itself for a request it refuses (Host or Origin check). */
export class ForbiddenError extends HobError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** A request body over the limit. */
export class PayloadTooLargeError extends HobError {
  constructor(message: string) {
    super('payload_too_large', message);
  }
}

/** The session (or process) the request is about has already exited: 410 Gone, as Sprites answers a kill of an exited session. */
export const GONE_STATUS = 410;
