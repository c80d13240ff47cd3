/**
 * How callers outside core reach a sandbox's guest agent (docs/architecture.md §5):
 * the sandbox is woken first and held awake (an activity hold, activity.ts)
 * until released. Core owns the guest connection and defines the ports the
 * API uses: the connection itself (GuestConnection), the service supervisor
 * (GuestServices, ServiceLogReader), tunnels (guest-tunnel.ts), port events
 * (port-events.ts), processes (guest-process.ts, exec.ts). Also the guest port
 * sandbox URLs route to (`serviceHttpPort`, `urlPortOf`).
 */
import type { AgentClient } from '../agent/client.js';
import { ensureHttpService, httpPortOf, type AgentServices, type ServiceLogStream } from '../agent/services.js';
import type { SessionRegistry } from './sessions.js';
import type { SandboxService } from './types.js';

/**
 * What callers of useAgent may do with a sandbox's guest: files, services,
 * tunnels, processes and port watches. Not its lifecycle (freeze, sync, clock,
 * shutdown): that is the manager's, which owns the connection itself
 * (SandboxService.agent). The agent client implements it; its method types are
 * picked from it so that the two cannot drift apart.
 */
export type GuestConnection = Pick<
  AgentClient,
  | 'isClosed'
  | 'supports'
  | 'exec'
  | 'run'
  | 'watchPorts'
  | 'openTunnel'
  | 'services'
  | 'readFile'
  | 'writeFile'
  | 'stat'
  | 'list'
  | 'mkdir'
  | 'rename'
  | 'remove'
  | 'chmod'
>;

/** The guest's service supervisor, as the services routes use it (`GuestConnection.services`). */
export type GuestServices = Pick<AgentServices, 'list' | 'get' | 'put' | 'delete' | 'start' | 'stop' | 'signal' | 'logs'>;

/** A service's log entries as they are read or followed (`GuestServices.logs`). */
export type ServiceLogReader = Pick<ServiceLogStream, 'logFile' | 'next' | 'close' | typeof Symbol.asyncIterator>;

/**
 * The guest broke the protocol (a hostile or broken agent). Exported here so
 * that the API maps it to HTTP (api/errors.ts) without reaching into the agent.
 */
export { InvalidGuestAnswerError } from '../agent/answer.js';

/** What `useAgent` needs of core. */
export interface GuestAccess {
  /** SandboxService provides it: `agent` wakes the sandbox and connects. */
  readonly sandboxes: { agent(name: string): Promise<GuestConnection> };
  readonly sessions: Pick<SessionRegistry, 'hold'>;
}

/** A sandbox's connected agent; the sandbox stays awake until `release` (idempotent). */
export interface AgentUse {
  readonly agent: GuestConnection;
  readonly release: () => void;
}

/** The agent of sandbox `name`, waking it if needed and holding it until `release`. */
export async function useAgent(core: GuestAccess, name: string): Promise<AgentUse> {
  const release = core.sessions.hold(name);
  try {
    return { agent: await core.sandboxes.agent(name), release };
  } catch (err) {
    release();
    throw err;
  }
}

/** Runs `fn` with the agent of sandbox `name`, releasing the hold afterwards. */
export async function withAgent<T>(core: GuestAccess, name: string, fn: (agent: GuestConnection) => Promise<T>): Promise<T> {
  const { agent, release } = await useAgent(core, name);
  try {
    return await fn(agent);
  } finally {
    release();
  }
}

/**
 * The hook of sandbox URLs (SandboxHostDeps.httpPortFor): the `http_port` of
 * the sandbox's HTTP service, started first when it is stopped; `fallback`
 * when no service declares one or the agent predates services.
 */
export function serviceHttpPort(sandboxes: Pick<SandboxService, 'agent'>, fallback: number): (name: string) => Promise<number> {
  return async (name) => (await ensureHttpService((await sandboxes.agent(name)).services)) ?? fallback;
}

/**
 * The hook of port events (port-events.ts): the port the sandbox URL routes to
 * now, without starting anything; `fallback` when no service declares one or
 * the lookup fails.
 */
export function urlPortOf(fallback: number): (guest: GuestConnection) => Promise<number> {
  return (guest) => httpPortOf(guest.services).then((port) => port ?? fallback, () => fallback);
}
