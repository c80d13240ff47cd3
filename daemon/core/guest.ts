/**
 * How callers outside core reach a sandbox's guest agent: the sandbox is woken
 * first and held awake (an activity hold, SessionRegistry.hold) until released.
 * Also the guest port sandbox URLs route to (`serviceHttpPort`).
 */
import type { AgentClient } from '../agent/client.js';
import { ensureHttpService } from '../agent/services.js';
import type { SessionRegistry } from './sessions.js';
import type { SandboxService } from './types.js';

export type { AgentClient } from '../agent/client.js';
export type { ServiceLogStream } from '../agent/services.js';

/** What `useAgent` needs of core. */
export interface GuestAccess {
  readonly sandboxes: Pick<SandboxService, 'agent'>;
  readonly sessions: Pick<SessionRegistry, 'hold'>;
}

/** A sandbox's connected agent; the sandbox stays awake until `release` (idempotent). */
export interface AgentUse {
  readonly agent: AgentClient;
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
export async function withAgent<T>(core: GuestAccess, name: string, fn: (agent: AgentClient) => Promise<T>): Promise<T> {
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
