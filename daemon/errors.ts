/**
 * Every error hob raises on purpose is a HobError subclass. The API maps them to
 * HTTP in one place (api/errors.ts) by their `code`; anything else is a bug and
 * becomes a 500 without details.
 */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'rate_limited'
  | 'pool_full'
  | 'vmm_failed'
  | 'agent_failed'
  | 'guest_error'
  | 'timeout'
  | 'image_unreadable'
  | 'not_supported'
  | 'internal';

export class HobError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class BadRequestError extends HobError {
  constructor(message: string) { super('bad_request', message); }
}
export class NotFoundError extends HobError {
  constructor(message: string) { super('not_found', message); }
}
export class ConflictError extends HobError {
  constructor(message: string) { super('conflict', message); }
}
export class PoolFullError extends HobError {
  constructor(message: string, options?: { cause?: unknown }) { super('pool_full', message, options); }
}
/** The VMM process failed, died, or did not answer its API. */
export class VmmError extends HobError {
  constructor(message: string, options?: { cause?: unknown }) { super('vmm_failed', message, options); }
}
/** The guest agent could not be reached or broke the protocol. */
export class AgentError extends HobError {
  constructor(message: string, options?: { cause?: unknown }) { super('agent_failed', message, options); }
}
/** The guest agent reported that an operation failed inside the guest (ENOENT, EACCES, ...). */
export class GuestError extends HobError {
  constructor(
    readonly guestCode: string,
    message: string,
  ) { super('guest_error', message); }
}
/** An exec asked for a user the guest does not know (the agent's ENOUSER): the client's mistake, nothing started. */
export class UnknownUserError extends BadRequestError {
  constructor(readonly user: string) { super(`cannot run as ${user}: no such user in the sandbox`); }
}
export class TimeoutError extends HobError {
  constructor(message: string) { super('timeout', message); }
}
/**
 * A guest image of another CPU architecture than the host's, where hob cannot or may not
 * run it (docs/architecture.md §4): only qemu under TCG runs foreign guests, and only with
 * `vmm.allowForeignArch`. A 400: the request names an image this hobd will not boot.
 */
export class ForeignArchError extends BadRequestError {}
/**
 * A request for something hob deliberately does not do (a Sprites feature with no
 * local meaning, or one the sandbox's agent is too old for): 501, with a message
 * that says what to do instead. Nothing changes.
 */
export class NotSupportedError extends HobError {
  constructor(message: string) { super('not_supported', message); }
}
