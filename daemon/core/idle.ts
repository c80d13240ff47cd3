/**
 * The idle policy's bookkeeping (docs/architecture.md §7): when each sandbox was last
 * busy. The manager decides what to do with it (pause, hibernate) on its own
 * timer; keep-awake holds live in the sandbox's row (they survive a restart).
 *
 * Busy means: a client attached to a session, a session's process running, a
 * request using the guest (exec, files, proxy or URL connections hold the
 * sandbox through SessionRegistry.hold), an operation of the manager in
 * progress, or a keep-awake hold that has not expired.
 */
import * as z from 'zod';

/** Idle times in seconds; 0 turns the step off. */
export interface IdleSettings {
  /** Running → paused after this long idle. */
  readonly pauseAfterSeconds: number;
  /** Running or paused → hibernated after this long idle (counted from the last activity, like the pause). */
  readonly hibernateAfterSeconds: number;
}

/** Per-sandbox overrides of the global idle settings (sandbox config key `idle`). */
export const IdleOverrideSchema = z.strictObject({
  pauseAfterSeconds: z.number().int().min(0).max(30 * 86_400).optional(),
  hibernateAfterSeconds: z.number().int().min(0).max(30 * 86_400).optional(),
});
export type IdleOverride = z.infer<typeof IdleOverrideSchema>;

export function effectiveIdle(global: IdleSettings, override: IdleOverride | undefined): IdleSettings {
  return {
    pauseAfterSeconds: override?.pauseAfterSeconds ?? global.pauseAfterSeconds,
    hibernateAfterSeconds: override?.hibernateAfterSeconds ?? global.hibernateAfterSeconds,
  };
}

export class IdleTracker {
  private readonly lastBusy = new Map<string, number>();

  /** Records activity now. */
  touch(id: string, now = Date.now()): void {
    this.lastBusy.set(id, now);
  }

  /** Milliseconds since the last activity (a sandbox never touched counts from `since`). */
  idleFor(id: string, since: number, now = Date.now()): number {
    return now - (this.lastBusy.get(id) ?? since);
  }

  forget(id: string): void {
    this.lastBusy.delete(id);
  }
}
