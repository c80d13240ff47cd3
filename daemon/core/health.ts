/**
 * A sandbox's health as `checkSprite` asks for it (docs/architecture.md §20):
 * a running sandbox is healthy when its agent answers a ping within
 * CHECK_DEADLINE_MS; anything else says what it is and why. A check never
 * wakes or boots a sandbox: it looks at what is there.
 */
import type { Sandbox as SandboxRow } from '../db/index.js';
import { withDeadline } from './deadline.js';
import type { LiveVm } from './live-vm.js';

/** How long the agent of a running sandbox gets to answer a health ping. */
export const CHECK_DEADLINE_MS = 5_000;

export type HealthStatus = 'healthy' | 'unhealthy' | 'stopped' | 'sleeping' | 'busy';

export interface SandboxHealth {
  readonly status: HealthStatus;
  /** Why, for anything but healthy. */
  readonly reason: string | null;
  /** ISO 8601 time of the check. */
  readonly checkedAt: string;
  /** Milliseconds the check took. */
  readonly elapsedMs: number;
}

export async function checkHealth(row: SandboxRow, vm: LiveVm | undefined): Promise<SandboxHealth> {
  const started = Date.now();
  const done = (status: HealthStatus, reason: string | null): SandboxHealth => ({
    status,
    reason,
    checkedAt: new Date(started).toISOString(),
    elapsedMs: Date.now() - started,
  });
  switch (row.state) {
    case 'stopped':
      return done('stopped', 'the sandbox is stopped; it boots on the next request');
    case 'paused':
    case 'hibernated':
      return done('sleeping', `the sandbox is ${row.state}; it wakes on the next request`);
    case 'creating':
    case 'destroying':
      return done('busy', `the sandbox is ${row.state}`);
    case 'error':
      return done('unhealthy', row.lastError ?? 'the last operation failed');
    case 'running':
      break;
  }
  if (!vm) return done('unhealthy', 'the sandbox is marked running but hobd holds no VM for it');
  try {
    const agent = await withDeadline(vm.agent(CHECK_DEADLINE_MS), CHECK_DEADLINE_MS, 'the guest agent (connect)');
    await withDeadline(agent.ping(), Math.max(1, CHECK_DEADLINE_MS - (Date.now() - started)), 'the guest agent (ping)');
    return done('healthy', null);
  } catch (err) {
    return done('unhealthy', err instanceof Error ? err.message : String(err));
  }
}
