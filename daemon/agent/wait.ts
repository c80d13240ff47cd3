/** Waiting for a booting guest's agent. */
import type { Duplex } from 'node:stream';
import { TimeoutError } from '../errors.js';
import { AgentClient, type ConnectOptions } from './client.js';
import { IncompatibleAgentError } from './errors.js';

export interface WaitOptions extends Omit<ConnectOptions, 'timeoutMs'> {
  /** Overall deadline. Default 60 000. */
  readonly timeoutMs?: number;
  /** Pause between attempts after a failed open or a closed stream. Default 250. */
  readonly retryDelayMs?: number;
}

/**
 * Opens the agent stream and handshakes, retrying both until the agent answers
 * or the deadline passes (TimeoutError, naming the last failure). A handshake
 * that fails for good (IncompatibleAgentError) is not retried. Each attempt's stream is destroyed if it fails.
 */
export async function waitForAgent(open: () => Promise<Duplex>, options: WaitOptions = {}): Promise<AgentClient> {
  const { timeoutMs = 60_000, retryDelayMs = 250, ...connect } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      const stream = await open();
      return await AgentClient.connect(stream, { ...connect, timeoutMs: deadline - Date.now() });
    } catch (err) {
      lastError = err;
      if (err instanceof IncompatibleAgentError) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(retryDelayMs, Math.max(0, deadline - Date.now()))));
  }
  const why = lastError instanceof Error ? lastError.message : String(lastError ?? 'no attempt made');
  throw new TimeoutError(`the guest agent did not answer within ${timeoutMs} ms (last: ${why})`);
}
