/**
 * The HELLO exchange. Bytes written to a virtio-serial port before the guest
 * opened it may be lost, and the guest may still be booting, so the host resends
 * HELLO every `helloIntervalMs` until an answer carrying its nonce arrives (an
 * answer without a nonce comes from an agent that predates nonces and is
 * accepted too) or `timeoutMs` passes.
 */
import { randomBytes } from 'node:crypto';
import { AgentError, TimeoutError } from '../errors.js';
import { IncompatibleAgentError } from './errors.js';
import { AgentHelloSchema, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, type AgentHello, type HostHello, type Mux } from '../protocol/index.js';

export interface HandshakeOptions {
  /** Give up after this long (TimeoutError). Default 10 000. */
  readonly timeoutMs?: number;
  /** HELLO resend interval. Default 500. */
  readonly helloIntervalMs?: number;
  /** Protocol versions to offer; default this build's range. For tests of version negotiation. */
  readonly minVersion?: number;
  readonly maxVersion?: number;
}

/** An AgentHello with a version agreed on. */
export type AgreedHello = AgentHello & { version: number };

/** The handshake's outcome. */
export interface HandshakeResult {
  readonly hello: AgreedHello;
  /**
   * HELLOs the host sent. The agent answers each one it reads, and a port the
   * guest had not opened yet keeps them queued (a slow boot queues dozens), so
   * up to this many answers may still arrive after the one accepted.
   */
  readonly hellosSent: number;
}

/**
 * Resolves with the agent's hello. Rejects with IncompatibleAgentError (an
 * AgentError) when the agent shares no protocol version with us or sends an
 * invalid hello, AgentError when the stream closes, TimeoutError when nothing
 * answers in time.
 */
export function handshake(mux: Mux, options: HandshakeOptions = {}): Promise<HandshakeResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const nonce = randomBytes(12).toString('hex');
  const hello: HostHello = {
    role: 'host',
    minVersion: options.minVersion ?? PROTOCOL_VERSION_MIN,
    maxVersion: options.maxVersion ?? PROTOCOL_VERSION_MAX,
    nonce,
  };
  let hellosSent = 0;
  return new Promise<HandshakeResult>((resolve, reject) => {
    const finish = (error: Error | undefined, value?: AgreedHello): void => {
      clearInterval(resend);
      clearTimeout(deadline);
      mux.off('hello', onHello);
      mux.off('close', onClose);
      if (error) reject(error);
      else resolve({ hello: value as AgreedHello, hellosSent });
    };
    const onHello = (payload: unknown): void => {
      const parsed = AgentHelloSchema.safeParse(payload);
      if (!parsed.success) {
        finish(new IncompatibleAgentError(`invalid HELLO from the guest agent: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`));
        return;
      }
      const answer = parsed.data;
      if (answer.nonce !== undefined && answer.nonce !== nonce) return; // stale answer to an earlier connection
      if (answer.version === null) {
        finish(new IncompatibleAgentError(`the guest agent (version ${answer.agentVersion}) speaks no protocol version in ${hello.minVersion}..${hello.maxVersion}${answer.error ? `: ${answer.error}` : ''}`));
        return;
      }
      if (answer.version < hello.minVersion || answer.version > hello.maxVersion) {
        finish(new IncompatibleAgentError(`the guest agent chose protocol version ${answer.version}, outside ${hello.minVersion}..${hello.maxVersion}`));
        return;
      }
      finish(undefined, { ...answer, version: answer.version });
    };
    const onClose = (error: Error | undefined): void => {
      finish(new AgentError(`the agent connection closed during the handshake${error ? `: ${error.message}` : ''}`, { cause: error }));
    };
    const send = (): void => {
      try {
        mux.sendHello(hello);
        hellosSent++;
      } catch (err) {
        finish(new AgentError(`cannot send HELLO: ${String(err)}`, { cause: err }));
      }
    };
    const resend = setInterval(send, options.helloIntervalMs ?? 500);
    const deadline = setTimeout(() => finish(new TimeoutError(`the guest agent did not answer HELLO within ${timeoutMs} ms`)), timeoutMs);
    mux.on('hello', onHello);
    mux.on('close', onClose);
    if (mux.isClosed) onClose(undefined);
    else send();
  });
}
