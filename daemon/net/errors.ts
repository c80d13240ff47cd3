import { HobError } from '../errors.js';

/**
 * Setting up, changing or removing a sandbox's network failed on the host: an `ip`,
 * `sysctl` or `nft` command failed, or a resolver socket could not be bound. The message
 * names the command and carries its stderr. Maps to HTTP 500 (the host is at fault, not
 * the request).
 */
export class NetworkError extends HobError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('internal', message, options);
  }
}
