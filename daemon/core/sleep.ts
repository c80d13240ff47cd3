/**
 * Sleep (docs/architecture.md §7): pausing a VM (memory resident),
 * hibernating it (memory saved into the sandbox's volume, VMM gone), and the
 * idle policy that does both by itself. Waking is the launcher's (VmLauncher.start).
 */
import { appendEvent, listSandboxes, setSandboxState, type Sandbox as SandboxRow } from '../db/index.js';
import { ConflictError } from '../errors.js';
import { crashPoint } from './crash-point.js';
import type { GuestApiRelay } from './guest-api.js';
import type { GuestKeepAwake } from './guest-keep-awake.js';
import { effectiveIdle } from './idle.js';
import type { VmLauncher } from './launcher.js';
import type { LiveVm } from './live-vm.js';
import { idleOverrideOf, keepAwakeUntilOf } from './row-config.js';
import { freshRow, type SandboxContext } from './sandbox-context.js';

export class SandboxSleep {
  constructor(
    private readonly ctx: SandboxContext,
    private readonly launcher: VmLauncher,
    /** Keep-awake holds taken inside guests; the idle policy follows running guests' holds. */
    private readonly guestKeepAwake: GuestKeepAwake,
    /** The API inside guests: served on every running guest's agent connection. */
    private readonly guestApi: GuestApiRelay,
  ) {}

  /** Pauses a running VM (lock held). */
  async pause(row: SandboxRow, vm: LiveVm): Promise<void> {
    if (row.state === 'paused') return;
    await vm.handle.pause();
    crashPoint('sleep.paused');
    setSandboxState(this.ctx.deps.db, row.id, 'paused');
  }

  /**
   * Saves a paused VM's memory into its volume and ends the VMM process (lock held).
   * @throws PoolFullError (no room for the memory: the VM stays paused); the VMM's
   *   error if the snapshot fails (the partial image is removed, the VM stays paused).
   */
  async hibernate(row: SandboxRow, vm: LiveVm): Promise<void> {
    const { db, volumes, sessions } = this.ctx.deps;
    const memory = volumes.memory(row.id);
    await memory.remove();
    await this.ctx.checkpoints.requireSpace('hibernating', row.memoryMiB * 1024 ** 2);
    await memory.create();
    try {
      await vm.handle.snapshot(memory.dir);
    } catch (err) {
      await memory.remove().catch(() => undefined);
      throw err;
    }
    crashPoint('hibernate.memory-saved');
    // The row first: from here on the memory image is the sandbox's state, and a hobd that
    // dies before the kill below leaves a VMM that reconcile may kill (its memory is saved).
    setSandboxState(db, row.id, 'hibernated');
    crashPoint('hibernate.row-written');
    sessions.endSandbox(row.name, 'the sandbox is hibernating');
    await vm.kill();
    this.ctx.live.delete(row.id);
    await this.launcher.releaseNetwork(row.id);
  }

  /** One look at every live sandbox: pause the ones idle long enough, hibernate the ones idle longer. */
  async runIdlePolicy(): Promise<void> {
    const { db, sessions, config } = this.ctx.deps;
    const now = Date.now();
    for (const row of listSandboxes(db)) {
      if (row.state !== 'running' && row.state !== 'paused') continue;
      const vm = this.ctx.live.get(row.id);
      if (!vm) continue;
      if (row.state === 'running') {
        this.guestKeepAwake.follow(row.name, vm);
        this.guestApi.follow(row.id, row.name, vm);
      }
      const activity = sessions.activity(row.name);
      const busy = activity.attachedClients + activity.runningSessions + activity.holds > 0
        || this.ctx.locks.holder(row.id) !== undefined
        || this.ctx.booting.has(row.id)
        || keepAwakeUntilOf(row, now) !== undefined;
      if (busy) {
        this.ctx.idle.touch(row.id, now);
        continue;
      }
      const settings = effectiveIdle(config.idle, idleOverrideOf(row));
      const idleMs = this.ctx.idle.idleFor(row.id, row.stateSince.getTime(), now);
      const hibernate = settings.hibernateAfterSeconds > 0 && idleMs >= settings.hibernateAfterSeconds * 1000;
      const pause = row.state === 'running' && settings.pauseAfterSeconds > 0 && idleMs >= settings.pauseAfterSeconds * 1000;
      if (!hibernate && !pause) continue;
      try {
        await this.ctx.locks.run(
          row.id,
          hibernate ? 'idle hibernate' : 'idle pause',
          async () => {
            const current = freshRow(db, row);
            if (current.state !== 'running' && current.state !== 'paused') return;
            await this.pause(current, vm);
            if (hibernate) await this.hibernate(freshRow(db, row), vm);
          },
          { background: true },
        );
        appendEvent(db, { sandboxId: row.id, type: 'idle', data: { to: hibernate ? 'hibernated' : 'paused', idleSeconds: Math.round(idleMs / 1000) } });
      } catch (err) {
        if (!(err instanceof ConflictError)) this.ctx.log(`hob: idle policy for ${row.name}: ${(err as Error).message}`);
      }
    }
  }
}
