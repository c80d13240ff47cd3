/**
 * Holding a running guest's disk still while the host snapshots it (design
 * section 3): the agent syncs and freezes the root filesystem, which leaves
 * ext4 clean on disk (journal flushed, no recovery needed). A guest whose
 * agent does not answer (wrecked, hung, busy booting) is paused instead: the
 * VMM has flushed its disk writes when the pause returns, so the snapshot is
 * crash-consistent, like a power cut, which ext4's journal recovers from.
 *
 * Whatever happens inside `work`, the guest is thawed or resumed afterwards, except after a
 * `work` that succeeded when the caller is about to kill the VM (`leaveHeld`).
 */
import type { LiveVm } from './live-vm.js';
import { withDeadline } from './deadline.js';

/**
 * How long the agent gets to sync and freeze before hob pauses the VM instead. Generous:
 * a guest with a busy writer may take a while to sync (more so under TCG), and a
 * frozen filesystem is clean on disk where a paused one needs journal recovery.
 */
const FREEZE_DEADLINE_MS = 30_000;
/** The agent thaws by itself after this long if hob never says thaw (hobd died mid-checkpoint). */
const AUTO_THAW_MS = 60_000;
/** A thaw is one ioctl in the guest; the agent's auto-thaw covers a thaw that never arrives. */
export const THAW_DEADLINE_MS = 10_000;

/** How the disk was held still. */
export type QuiesceMethod = 'freeze' | 'pause';

export interface QuiesceHooks {
  /** Called once the method is chosen, before `work` (progress messages). */
  readonly onQuiesced?: (method: QuiesceMethod) => void;
  /** Problems that do not fail the operation (a thaw that timed out). */
  readonly log?: (message: string) => void;
  /**
   * Leave the guest frozen (or paused) after a `work` that succeeded: the caller kills the VM
   * next (a restore keeping the present), so a thaw would be a round trip for nothing. If
   * hobd dies first, the agent's auto-thaw or reconcile's thaw of adopted VMs releases it.
   */
  readonly leaveHeld?: boolean;
}

export async function withQuiescedDisk<T>(vm: LiveVm, work: () => Promise<T>, hooks: QuiesceHooks = {}): Promise<T> {
  const method = await quiesce(vm);
  hooks.onQuiesced?.(method);
  let done = false;
  try {
    const result = await work();
    done = true;
    return result;
  } finally {
    if (!(done && hooks.leaveHeld)) {
      await release(vm, method).catch((err: Error) => hooks.log?.(`hob: releasing the guest of ${vm.handle.spec.id} after a snapshot: ${err.message}`));
    }
  }
}

async function quiesce(vm: LiveVm): Promise<QuiesceMethod> {
  try {
    await withDeadline((async () => {
      const agent = await vm.agent(FREEZE_DEADLINE_MS);
      // FIFREEZE writes back all dirty data of the filesystem itself: no separate sync round trip.
      await agent.freeze({ autoThawMs: AUTO_THAW_MS });
    })(), FREEZE_DEADLINE_MS, 'the guest agent (freeze)');
    return 'freeze';
  } catch {
    // A freeze may still land after the deadline; the agent's auto-thaw undoes it.
    await vm.handle.pause();
    return 'pause';
  }
}

async function release(vm: LiveVm, method: QuiesceMethod): Promise<void> {
  if (method === 'pause') {
    await vm.handle.resume();
    return;
  }
  const agent = await vm.agent(THAW_DEADLINE_MS);
  await withDeadline(agent.thaw(), THAW_DEADLINE_MS, 'the guest agent (thaw)');
}
