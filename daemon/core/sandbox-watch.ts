/**
 * Following the sandbox list (the SDKs' `watchSprites`; docs/architecture.md
 * §20): the list as it is, then what changed. The list is read again every
 * WATCH_INTERVAL_MS and compared with the last reading (a read of the
 * database, no guest involved), so a state that lasts less than one interval
 * may be missed: a watcher sees where each sandbox went, not every step.
 */
import type { Sandbox } from './types.js';

export const WATCH_INTERVAL_MS = 1_000;
/** Watchers at once across the daemon; more is a 429. */
export const MAX_LIST_WATCHERS = 64;

export type ListChangeKind = 'snapshot' | 'created' | 'update' | 'deleted';

export interface ListChange {
  readonly type: ListChangeKind;
  readonly name: string;
  /** The sandbox now; for `deleted`, as it was last seen. */
  readonly sandbox: Sandbox;
}

/** What changed between two readings of the list, by name: state changes, new and gone sandboxes. */
export function listChanges(before: ReadonlyMap<string, Sandbox>, now: readonly Sandbox[]): ListChange[] {
  const changes: ListChange[] = [];
  const seen = new Set<string>();
  for (const sandbox of now) {
    seen.add(sandbox.name);
    const old = before.get(sandbox.name);
    if (!old || old.id !== sandbox.id) changes.push({ type: 'created', name: sandbox.name, sandbox });
    else if (old.state !== sandbox.state) changes.push({ type: 'update', name: sandbox.name, sandbox });
  }
  for (const [name, sandbox] of before) if (!seen.has(name)) changes.push({ type: 'deleted', name, sandbox });
  return changes;
}

/** Counts watchers, so that a client cannot open timers without end. */
export class WatcherSlots {
  private used = 0;
  constructor(private readonly max = MAX_LIST_WATCHERS) {}
  /** A release function, or undefined when every slot is taken. */
  take(): (() => void) | undefined {
    if (this.used >= this.max) return undefined;
    this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
    };
  }
}
