/**
 * One host connection: the handshake and the dispatch of each new channel's
 * request to its handler. A session never throws: whatever a client sends ends
 * at worst as an `error` message on its own channel.
 */
import type { Duplex } from 'node:stream';
import {
  HostHelloSchema,
  Mux,
  NO_SESSION_ERROR_CODE,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  RequestSchema,
  type AgentHello,
  type Channel,
  type ChannelMessage,
  type Op,
  type Request,
} from '../../daemon/protocol/index.js';
import { EBADREQ, ENOTSUP, toOpError } from './errors.js';
import { handlers, KNOWN_OPS } from './handlers/index.js';
import { log } from './log.js';
import { HANGUP_EVENT } from './transport/hangup.js';

/** What the agent tells every host about itself. */
export interface AgentIdentity {
  readonly agentVersion: string;
  readonly bootId: string;
  readonly capabilities: readonly string[];
  /** Ops this agent serves; others get ENOTSUP (a subset of KNOWN_OPS when emulating an older agent). */
  readonly ops: ReadonlySet<Op>;
}

export function serveSession(stream: Duplex, identity: AgentIdentity, label: string): Mux {
  const mux = new Mux(stream);
  let handshaken = false;
  let garbageReports = 0;

  mux.on('hello', (payload) => {
    const parsed = HostHelloSchema.safeParse(payload);
    // A HELLO always starts over: the host reconnected, so what it had open is gone.
    mux.resetChannels();
    if (!parsed.success) {
      log(`${label}: invalid HELLO: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`);
      mux.sendHello(answer(identity, null, 'invalid HELLO', undefined));
      return;
    }
    const host = parsed.data;
    const high = Math.min(host.maxVersion, PROTOCOL_VERSION_MAX);
    const low = Math.max(host.minVersion, PROTOCOL_VERSION_MIN);
    if (high < low) {
      handshaken = false;
      const why = `no common protocol version: host speaks ${host.minVersion}..${host.maxVersion}, agent ${PROTOCOL_VERSION_MIN}..${PROTOCOL_VERSION_MAX}`;
      log(`${label}: ${why}`);
      mux.sendHello(answer(identity, null, why, host.nonce));
      return;
    }
    handshaken = true;
    mux.sendHello(answer(identity, high, undefined, host.nonce));
  });

  mux.on('channel', (channel, first) => {
    dispatch(channel, first, handshaken, identity).catch((err: unknown) => log(`${label}: channel ${channel.id}: ${String(err)}`));
  });

  mux.on('protocolError', (err) => {
    // Garbage is expected right after a virtio-serial reconnect; report it, but not endlessly.
    if (garbageReports++ < 20) log(`${label}: ${err.message}`);
  });

  mux.on('close', (err) => log(`${label}: connection closed${err ? `: ${err.message}` : ''}`));

  stream.on(HANGUP_EVENT, () => {
    handshaken = false;
    mux.resetChannels();
  });
  return mux;
}

function answer(identity: AgentIdentity, version: number | null, error: string | undefined, nonce: string | undefined): AgentHello {
  return {
    role: 'agent',
    version,
    agentVersion: identity.agentVersion,
    capabilities: [...identity.capabilities],
    bootId: identity.bootId,
    ...(error !== undefined ? { error } : {}),
    ...(nonce !== undefined ? { nonce } : {}),
  };
}

function fail(channel: Channel, code: string, message: string): void {
  if (channel.isClosed) return;
  channel.send({ type: 'error', code, message: message.slice(0, 4096) });
  channel.close();
}

async function dispatch(channel: Channel, first: ChannelMessage, handshaken: boolean, identity: AgentIdentity): Promise<void> {
  // A late message for a channel this side already closed re-creates it: drop it again.
  if (first.type !== 'request') {
    channel.close();
    return;
  }
  if (!handshaken) {
    fail(channel, NO_SESSION_ERROR_CODE, 'send HELLO first');
    return;
  }
  const raw = first.request;
  const op = typeof raw === 'object' && raw !== null && 'op' in raw ? (raw as { op: unknown }).op : undefined;
  if (typeof op === 'string' && !KNOWN_OPS.has(op as Op)) {
    fail(channel, ENOTSUP, `unknown operation ${JSON.stringify(op).slice(0, 100)}`);
    return;
  }
  const parsed = RequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(channel, EBADREQ, `invalid request: ${issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'schema mismatch'}`);
    return;
  }
  const request = parsed.data;
  if (!identity.ops.has(request.op)) {
    fail(channel, ENOTSUP, `operation ${request.op} is not supported by this agent`);
    return;
  }
  try {
    await runHandler(request, channel);
  } catch (err) {
    const e = toOpError(err);
    fail(channel, e.code, e.message);
  }
}

function runHandler(request: Request, channel: Channel): Promise<void> {
  // The table is keyed by op, so this lookup always matches the request's type.
  const handler = handlers[request.op] as (r: typeof request, c: Channel) => Promise<void>;
  return handler(request, channel);
}
