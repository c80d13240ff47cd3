/**
 * A sandbox's identity inside the guest: hostname (its name) and machine-id
 * (derived from its id). A cold boot gets both from the kernel command line
 * (guest-image init). A fork resumed from a memory snapshot still runs with
 * its parent's, so hob sets them through the agent after the resume.
 */
import { createHash } from 'node:crypto';
import type { AgentClient } from '../agent/index.js';
import { AgentError } from '../errors.js';
import { IDENTITY_DEADLINE_MS, withDeadline } from './deadline.js';

/** The guest's /etc/machine-id: 32 hex digits, stable for a sandbox id and different for every other. */
export function machineIdFor(sandboxId: string): string {
  return createHash('sha256').update(`hob-machine-id:${sandboxId}`).digest('hex').slice(0, 32);
}

/**
 * Applies a new hostname and machine-id in a running guest, and regenerates the
 * ssh host keys if the guest has any (a fork must not share them with its parent):
 * through the agent's identity.set, or, for agents without it (an old checkpoint's),
 * a shell script that gets the values as arguments, never as script text.
 * @throws TimeoutError after `deadlineMs` (IDENTITY_DEADLINE_MS) (the fork then fails and is undone, its VMM killed).
 */
export async function applyIdentity(agent: AgentClient, identity: { hostname: string; machineId: string }, deadlineMs = IDENTITY_DEADLINE_MS): Promise<void> {
  if (agent.supports('identity.set')) {
    // The agent does it without a process start (docs/architecture.md §27).
    await withDeadline(agent.setIdentity(identity.hostname, identity.machineId), deadlineMs, 'the guest agent (identity)');
    return;
  }
  const script = [
    'set -e',
    'hostname "$1"',
    'echo "$1" > /etc/hostname',
    // Same line format as guest-image init writes at boot.
    "sed -i '/ # hob$/d' /etc/hosts",
    'echo "127.0.1.1 $1 # hob" >> /etc/hosts',
    'echo "$2" > /etc/machine-id',
    'if ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; fi',
    'sync',
  ].join('\n');
  // As root explicitly: an exec without a user runs as the image's default user (docs/architecture.md §5).
  const result = await withDeadline(agent.run(['/bin/sh', '-c', script, 'hob-identity', identity.hostname, identity.machineId], { user: 'root' }), deadlineMs, 'the guest agent (identity)');
  if (result.code !== 0) {
    throw new AgentError(`setting the fork's identity failed (exit ${String(result.code)}): ${result.stderr.toString('utf8').trim().slice(0, 500)}`);
  }
}
