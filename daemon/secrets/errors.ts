/**
 * Typed errors of the secret store (docs/architecture.md §11). They extend the
 * generic hob errors, so the API maps them to 400, 404 and 409 without knowing
 * them; their messages never contain a secret's value.
 */
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';

/** A name, host pattern, variable or value was refused; nothing was stored. */
export class InvalidSecretInputError extends BadRequestError {
  constructor(
    /** Which input: 'name', 'hosts', 'env', 'value' or 'sandbox'. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** The secret, the sandbox or the grant does not exist. */
export class SecretNotFoundError extends NotFoundError {}

/** The grant exists already, or the variable is taken by another grant of the sandbox. */
export class SecretConflictError extends ConflictError {}
