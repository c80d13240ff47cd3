/**
 * What hob does by itself, on timers (docs/architecture.md §7): the idle
 * policy (sleep.ts) and automatic checkpoints. Both run as background work
 * on the sandbox's lock, so they never make a request fail: a request waits
 * for them, and they skip a sandbox that is busy (the next tick tries again).
 */
import { listSandboxes } from '../db/index.js';
import { ConflictError } from '../errors.js';
import type { Checkpointing } from './checkpointing.js';
import { autoCheckpointOf } from './row-config.js';
import { freshRow, type SandboxContext } from './sandbox-context.js';
import type { SandboxSleep } from './sleep.js';

/** How often the automatic-checkpoint schedule is looked at. */
const AUTO_CHECKPOINT_TICK_MS = 30_000;
/** How often the idle policy looks at running and paused sandboxes. */
const IDLE_TICK_MS = 1_000;

export class Schedules {
  private autoTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: SandboxContext,
    private readonly sleep: SandboxSleep,
    private readonly checkpointing: Checkpointing,
  ) {}

  /** Starts both timers (unref'ed: they never keep hobd alive). Idempotent. */
  start(): void {
    if (this.autoTimer) return;
    this.autoTimer = setInterval(() => void this.runAutoCheckpoints(), AUTO_CHECKPOINT_TICK_MS);
    this.autoTimer.unref();
    let ticking = false;
    this.idleTimer = setInterval(() => {
      if (ticking) return;
      ticking = true;
      void this.sleep.runIdlePolicy().finally(() => (ticking = false));
    }, IDLE_TICK_MS);
    this.idleTimer.unref();
  }

  stop(): void {
    clearInterval(this.autoTimer);
    clearInterval(this.idleTimer);
    this.autoTimer = undefined;
    this.idleTimer = undefined;
  }

  /** One tick of the schedule: running sandboxes whose last automatic checkpoint is older than their interval get one. */
  private async runAutoCheckpoints(): Promise<void> {
    const { db } = this.ctx.deps;
    for (const row of listSandboxes(db)) {
      const policy = autoCheckpointOf(row);
      if (!policy || row.state !== 'running' || !this.ctx.live.has(row.id)) continue;
      const last = this.ctx.checkpoints.list(row).filter((c) => c.auto).at(-1);
      if (last && Date.now() - last.createdAt.getTime() < policy.intervalMinutes * 60_000) continue;
      try {
        await this.ctx.locks.run(
          row.id,
          'automatic checkpoint',
          async () => {
            const cp = await this.checkpointing.take(freshRow(db, row), { comment: 'automatic', auto: true, memory: false }, () => {});
            await this.ctx.checkpoints.pruneAuto(row, policy.keep);
            return cp;
          },
          { background: true },
        );
      } catch (err) {
        // Busy (409) is normal: the next tick tries again.
        if (!(err instanceof ConflictError)) this.ctx.log(`hob: automatic checkpoint of ${row.name}: ${(err as Error).message}`);
      }
    }
  }
}
