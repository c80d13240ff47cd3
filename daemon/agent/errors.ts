/**
 * How guest-agent failures surface on the host:
 * - GuestError (daemon/errors.ts): the agent reported that the operation failed
 *   inside the guest; `guestCode` is its errno name (ENOENT, EACCES, EISDIR, ...)
 *   or a protocol code (EBADREQ, ENOTSUP, ENOUSER).
 * - AgentError: the connection was lost, the agent broke the protocol, or it
 *   sent something that failed validation (guest input is untrusted).
 * - UnsupportedByAgentError (an AgentError): the agent did not advertise the
 *   capability an operation needs, e.g. an old agent in an old checkpoint.
 */
import { AgentError } from '../errors.js';

export class UnsupportedByAgentError extends AgentError {
  constructor(
    /** The missing capability, e.g. "fs.chmod" or "exec.tty". */
    readonly capability: string,
    agentVersion: string,
  ) {
    super(`the guest agent (version ${agentVersion}) does not support "${capability}"; rebuild or update the guest image to use it`);
  }
}

/**
 * The agent answered the handshake but cannot be used: no common protocol
 * version, or an invalid hello. Retrying does not help (waitForAgent gives up at once).
 */
export class IncompatibleAgentError extends AgentError {}
