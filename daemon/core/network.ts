/**
 * The manager's view of sandbox networking (docs/architecture.md §6). net/sandbox-network.ts's
 * SandboxNetwork implements it; the manager only asks for a sandbox's network
 * before its VMM starts and gives it back after the VMM has exited.
 */
import type { AgentClient } from '../agent/index.js';
import { POLICY_GUEST_PATH, renderPolicyFile, type NetworkPolicy, type SandboxNetwork } from '../net/index.js';
import { POLICY_PUBLISH_DEADLINE_MS, withDeadline } from './deadline.js';

/** What the manager uses of SandboxNetwork. */
export type SandboxNetworking = Pick<SandboxNetwork, 'setup' | 'setupIsolated' | 'teardown' | 'setPolicy' | 'reconcile'>;

/**
 * Writes the sandbox's policy where the guest can read it (POLICY_GUEST_PATH, root's,
 * mode 0444). The agent writes through a temporary file and a rename, so a reader never
 * sees half a file; an existing file keeps its mode, hence the chmod.
 * @throws AgentError when the guest does not take it, TimeoutError when it does not answer
 * within POLICY_PUBLISH_DEADLINE_MS (the caller holds the sandbox's lock).
 */
export async function publishPolicyToGuest(agent: AgentClient, policy: NetworkPolicy): Promise<void> {
  await withDeadline((async () => {
    await agent.writeFile(POLICY_GUEST_PATH, Buffer.from(renderPolicyFile(policy)), { mode: 0o444, mkdirs: true });
    await agent.chmod(POLICY_GUEST_PATH, 0o444);
  })(), POLICY_PUBLISH_DEADLINE_MS, 'the guest agent (network policy)');
}
