/**
 * Before a template's snapshot, its guest agent runs once every request a warm create sends
 * it (docs/architecture.md §29): setting the clock, the network policy file, configuring
 * secrets, setting the identity, an exec. The guest's Node then holds the compiled code of
 * all of them in the memory every clone resumes, instead of each clone compiling it anew
 * under TCG on the create's path. The template is left as a clone expects it: its own
 * identity, no secrets, and the policy file of an unrestricted sandbox, which a clone with
 * that policy keeps instead of writing it again (the write fsyncs twice).
 *
 * Best effort: a step that fails only costs clones its saving; the template is still right.
 */
import type { AgentClient } from '../agent/index.js';
import { renderPolicyFile, type NetworkPolicy } from '../net/index.js';
import { CLOCK_DEADLINE_MS, withDeadline } from './deadline.js';
import { applyIdentity } from './identity.js';
import { publishPolicyToGuest } from './network.js';
import { CAPABILITY_SECRETS, SECRETS_CONFIGURE_DEADLINE_MS } from './secrets.js';

export interface WarmUpResult {
  /** The steps that failed, each with its reason. */
  readonly failed: readonly string[];
  /** The policy file the template's guest now holds; absent when none was written. */
  readonly guestPolicyFile?: string;
}

/**
 * Runs the warm-up steps one after the other. `policy`: the one to write into the guest
 * (undefined when hobd has no networking: its sandboxes get no policy file at all).
 */
export async function warmUpTemplateAgent(
  agent: AgentClient,
  identity: { hostname: string; machineId: string },
  policy: NetworkPolicy | undefined,
): Promise<WarmUpResult> {
  const failed: string[] = [];
  /** Runs one step (each bounded in time: by its own deadline, or by the one its call carries). */
  const step = async (what: string, run: () => Promise<unknown>): Promise<boolean> => {
    try {
      await run();
      return true;
    } catch (err) {
      failed.push(`${what}: ${(err as Error).message}`);
      return false;
    }
  };
  const bounded = <T>(what: string, ms: number, call: () => Promise<T>) => () => withDeadline(call(), ms, `the guest agent (${what})`);
  await step('clock.set', bounded('clock.set', CLOCK_DEADLINE_MS, () => agent.setClock(Date.now())));
  let guestPolicyFile: string | undefined;
  if (policy !== undefined && (await step('network policy', () => publishPolicyToGuest(agent, policy)))) guestPolicyFile = renderPolicyFile(policy);
  if (agent.supports(CAPABILITY_SECRETS)) {
    await step('secrets.configure', bounded('secrets.configure', SECRETS_CONFIGURE_DEADLINE_MS, () => agent.configureSecrets({ caPem: null, env: {} })));
  }
  await step('identity', () => applyIdentity(agent, identity));
  await step('exec', bounded('exec', CLOCK_DEADLINE_MS, async () => {
    const r = await agent.run(['true']);
    if (r.code !== 0) throw new Error(`true exited ${String(r.code)}`);
  }));
  return guestPolicyFile === undefined ? { failed } : { failed, guestPolicyFile };
}
