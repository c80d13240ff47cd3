/**
 * `WSS /v1/sprites/{name}/proxy` (and `/v1/sandboxes/...`): a TCP connection
 * to a port inside the sandbox, through the agent's tunnel (works with the
 * guest's networking off), in the Sprites shape:
 *
 * 1. the client sends a JSON text message `{"host":"localhost","port":8080}`
 *    (`host` defaults to "localhost"; hob extension `"half_close": true`, see
 *    relay.ts);
 * 2. hobd connects inside the guest and answers
 *    `{"status":"connected","target":"localhost:8080"}` (plus
 *    `"half_close": true` when it was asked for);
 * 3. from then on binary messages are the raw bytes, both ways, with
 *    backpressure.
 *
 * Failures after the handshake: a JSON text message
 * `{"status":"error","error":<code>,"message":<text>,"target"?}` then a close
 * with the message as reason: 1008 for a bad or missing request (`bad_request`),
 * 1011 otherwise (`connection_refused` when nothing listens, the guest's errno
 * name in lower case for other guest errors, `agent_failed` when the guest is
 * unreachable). Waking the sandbox and checking it exists happen before the
 * handshake (upgrade.ts), so those fail with an HTTP status instead.
 */
import type { RawData } from 'ws';
import * as z from 'zod';
import type { GuestConnection } from '../../core/guest.js';
import { openGuestTunnel, type GuestTunnel } from '../../core/guest-tunnel.js';
import { GuestError, HobError } from '../../errors.js';
import { closeReason } from '../../websocket/close-reason.js';
import { relay, toBuffer } from '../../websocket/relay.js';
import type { ApiLog } from '../context.js';
import type { Accepted } from './exec-socket.js';

/** How long the client has to send its request after the handshake. */
export const PROXY_INIT_TIMEOUT_MS = 30_000;

const HOST_PATTERN = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?|[0-9A-Fa-f:.]+|\[[0-9A-Fa-f:.]+\])$/;

/** The client's first message. */
export const ProxyRequest = z.object({
  /** Host to connect to, as seen from inside the guest: a name, an IPv4 or an IPv6 address (brackets allowed). */
  host: z.string().max(253).regex(HOST_PATTERN, 'not a host name or address').default('localhost'),
  port: z.number().int().min(1).max(65535),
  /** hob: use the empty-message EOF convention of relay.ts. */
  half_close: z.boolean().optional(),
});
export type ProxyRequest = z.infer<typeof ProxyRequest>;

/** The server's answer once connected. */
export interface ProxyConnected {
  readonly status: 'connected';
  /** `host:port` as connected. */
  readonly target: string;
  /** hob: present (true) when the client asked for half-close and it is in effect. */
  readonly half_close?: true;
}

/** The server's answer when the connection cannot be made. */
export interface ProxyFailed {
  readonly status: 'error';
  readonly error: string;
  readonly message: string;
  readonly target?: string;
}

export interface ProxySocketContext {
  readonly name: string;
  /** The sandbox's agent (already woken). */
  readonly agent: Pick<GuestConnection, 'openTunnel'>;
  /** Ends the hold on the sandbox; called once, when the connection is over. */
  readonly release: () => void;
  readonly log: ApiLog;
}

/** Serves an accepted proxy websocket; see the module comment. */
export function serveProxySocket(accepted: Accepted, ctx: ProxySocketContext): void {
  const { ws } = accepted;
  let started = false;
  let closed = false;
  let released = false;
  const pending: RawData[] = [];
  const release = (): void => {
    if (released) return;
    released = true;
    ctx.release();
  };

  const fail = (answer: ProxyFailed, code: number): void => {
    clearTimeout(timer);
    if (ws.readyState === ws.OPEN) {
      ws.send(JSON.stringify(answer));
      ws.close(code, closeReason(answer.message));
    }
  };

  const timer = setTimeout(
    () => fail({ status: 'error', error: 'bad_request', message: `no proxy request within ${PROXY_INIT_TIMEOUT_MS / 1000} s` }, 1008),
    PROXY_INIT_TIMEOUT_MS,
  );
  timer.unref();

  const begin = async (data: RawData): Promise<void> => {
    clearTimeout(timer);
    let request: ProxyRequest;
    try {
      request = ProxyRequest.parse(JSON.parse(toBuffer(data).toString('utf8')));
    } catch (err) {
      const detail = err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ') : 'not JSON';
      fail({ status: 'error', error: 'bad_request', message: `invalid proxy request (${detail}); expected {"host":"localhost","port":8080}` }, 1008);
      return;
    }
    const host = request.host.replace(/^\[(.*)\]$/, '$1');
    const target = `${host.includes(':') ? `[${host}]` : host}:${request.port}`;
    // Hold further input until the tunnel exists (bounded: no reading meanwhile).
    ws.pause();
    let tunnel: GuestTunnel;
    try {
      tunnel = await openGuestTunnel(ctx.agent, request.port, host);
    } catch (err) {
      ws.resume();
      fail(tunnelFailure(err, target, ctx), 1011);
      return;
    }
    if (closed) {
      tunnel.destroy();
      return;
    }
    ws.off('message', onMessage);
    const halfClose = request.half_close === true;
    const answer: ProxyConnected = { status: 'connected', target, ...(halfClose ? { half_close: true as const } : {}) };
    ws.send(JSON.stringify(answer));
    started = true;
    // Resumed before the relay takes over (same tick, so no message slips past): it pauses again as the tunnel needs.
    ws.resume();
    relay(ws, tunnel, {
      halfClose,
      pending: pending.splice(0),
      onDone: (error) => {
        if (error && !(error instanceof GuestError)) ctx.log.warn('proxy relay failed', { sandbox: ctx.name, target, error: error.message });
        release();
      },
    });
  };

  let initSeen = false;
  const onMessage = (data: RawData): void => {
    if (started) return;
    if (!initSeen) {
      initSeen = true;
      void begin(data);
      return;
    }
    pending.push(data);
  };

  ws.on('error', (err) => ctx.log.warn('proxy websocket error', { sandbox: ctx.name, error: err.message }));
  ws.once('close', () => {
    closed = true;
    clearTimeout(timer);
    // Before the relay started, nothing else will release the hold.
    if (!started) release();
  });
  accepted.release();
  for (const message of accepted.early) onMessage(message.data);
  ws.on('message', onMessage);
}

/** The error answer for a tunnel that could not be opened. */
function tunnelFailure(err: unknown, target: string, ctx: ProxySocketContext): ProxyFailed {
  if (err instanceof GuestError) {
    const code = err.guestCode === 'ECONNREFUSED' ? 'connection_refused' : err.guestCode.toLowerCase();
    const message = err.guestCode === 'ECONNREFUSED' ? `nothing is listening on ${target} in sandbox ${ctx.name}` : `cannot connect to ${target} in sandbox ${ctx.name}: ${err.message}`;
    return { status: 'error', error: code, message, target };
  }
  if (err instanceof HobError) return { status: 'error', error: err.code, message: err.message, target };
  ctx.log.error('unexpected error opening a proxy tunnel', { sandbox: ctx.name, error: err instanceof Error ? err.stack : String(err) });
  return { status: 'error', error: 'internal', message: 'internal error', target };
}
