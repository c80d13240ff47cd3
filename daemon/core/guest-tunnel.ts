/**
 * Tunnels: TCP connections to a port inside a sandbox through its agent (no
 * guest networking involved), for sandbox URLs and the proxy websocket
 * (docs/architecture.md §5). A tunnel is a plain Duplex to its users.
 */
import type { Duplex } from 'node:stream';
import { ensureUsable } from '../agent/tunnel.js';
import { GuestError } from '../errors.js';
import type { GuestConnection } from './guest.js';

/** A connection to a guest port: bytes both ways; destroy() closes it. */
export type GuestTunnel = Duplex;

/** Guest errno codes that mean "nothing accepts connections there". */
const NOTHING_LISTENS = new Set(['ECONNREFUSED', 'EADDRNOTAVAIL', 'ENETUNREACH', 'EHOSTUNREACH']);

/** Whether a tunnel failure means that no server listens on the port (as opposed to a broken guest). */
export function isNothingListening(err: unknown): boolean {
  return err instanceof GuestError && NOTHING_LISTENS.has(err.guestCode);
}

/**
 * Opens a tunnel to `host:port` in the guest (AgentClient.openTunnel), and
 * rejects, like a refused connection would, when the agent failed it at once
 * (`ready` then `error` or CLOSE in one read): every API path that opens a
 * tunnel goes through here, so none is handed a stream that already failed.
 */
export async function openGuestTunnel(agent: Pick<GuestConnection, 'openTunnel'>, port: number, host?: string): Promise<GuestTunnel> {
  const tunnel = await agent.openTunnel(port, host);
  return ensureUsable(tunnel, `tunnel ${host ?? '127.0.0.1'}:${port}`);
}

/**
 * Opens a connection to a port on the guest's loopback: 127.0.0.1, then ::1
 * (dev servers that bind "localhost" may listen on ::1 only). A server bound to
 * 0.0.0.0 or :: is reached through the first. Rejects with the guest's error
 * (GuestError ECONNREFUSED when nothing listens on either; see isNothingListening),
 * or AgentError when the agent is gone.
 */
export async function connectGuestLoopback(agent: Pick<GuestConnection, 'openTunnel'>, port: number): Promise<GuestTunnel> {
  try {
    return await openGuestTunnel(agent, port, '127.0.0.1');
  } catch (err) {
    if (!isNothingListening(err)) throw err;
    try {
      return await openGuestTunnel(agent, port, '::1');
    } catch {
      throw err; // the IPv4 refusal is the clearer report
    }
  }
}
