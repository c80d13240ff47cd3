/**
 * How callers outside core reach a sandbox's guest agent: the sandbox is woken
 * first and held awake (an activity hold, SessionRegistry.hold) until released.
 */
import type { AgentClient } from '../agent/client.js';
import type { SessionRegistry } from './sessions.js';
import type { SandboxService } from './types.js';

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
