/**
 * `guest-api.serve`: the channel hobd answers the guest's API requests on
 * (protocol in daemon/protocol/messages/guest-api.ts). The socket side is
 * guest-api/socket.ts; this keeps the open channels and matches answers to
 * the requests waiting for them.
 */
import type { Channel, GuestApiMethod, RequestOf } from '../../../daemon/protocol/index.js';

/** A finished relay: the host's answer, or one the agent makes up (no host, lost connection, timeout). */
export interface RelayAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/**
 * How long the agent waits for hobd's answer. A checkpoint under TCG emulation
 * or a service stopped with a long timeout take a while; hobd keeps its own
 * deadlines shorter.
 */
export const RELAY_TIMEOUT_MS = 300_000;

interface Waiting {
  readonly channel: Channel;
  readonly resolve: (answer: RelayAnswer) => void;
  readonly timer: NodeJS.Timeout;
}

/** Open serve channels, newest last. */
const channels: Channel[] = [];
const waiting = new Map<number, Waiting>();
let nextId = 1;

const made = (status: number, error: string, message: string): RelayAnswer => ({ status, contentType: 'application/json', body: JSON.stringify({ error, message }) });

/** Passes one request to hobd; resolves with its answer (never rejects). */
export function relay(method: GuestApiMethod, path: string, body: string): Promise<RelayAnswer> {
  const channel = channels.findLast((c) => !c.isClosed);
  if (!channel) return Promise.resolve(made(503, 'unavailable', 'hobd is not connected to this sandbox, or does not serve the API inside the guest (an older hobd)'));
  const id = nextId;
  nextId = nextId >= 2 ** 31 ? 1 : nextId + 1;
  return new Promise<RelayAnswer>((resolve) => {
    const timer = setTimeout(() => settle(id, made(504, 'timeout', `hobd did not answer within ${RELAY_TIMEOUT_MS / 1000} s`)), RELAY_TIMEOUT_MS);
    timer.unref();
    waiting.set(id, { channel, resolve, timer });
    channel.send({ type: 'api_request', id, method, path, body });
  });
}

function settle(id: number, answer: RelayAnswer): void {
  const w = waiting.get(id);
  if (!w) return;
  waiting.delete(id);
  clearTimeout(w.timer);
  w.resolve(answer);
}

export async function handleGuestApiServe(_req: RequestOf<'guest-api.serve'>, channel: Channel): Promise<void> {
  channels.push(channel);
  channel.on('control', (message) => {
    if (message.type !== 'api_response') return;
    // An answer counts only on the channel its request went out on.
    if (waiting.get(message.id)?.channel === channel) settle(message.id, { status: message.status, contentType: message.contentType, body: message.body });
  });
  channel.send({ type: 'ready', value: {} });
  await new Promise<void>((resolve) => {
    if (channel.isClosed) resolve();
    else channel.once('close', () => resolve());
  });
  channels.splice(channels.indexOf(channel), 1);
  for (const [id, w] of waiting) if (w.channel === channel) settle(id, made(502, 'connection_lost', 'the connection to hobd was lost before it answered'));
}
