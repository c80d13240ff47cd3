/**
 * What keeps a sandbox from being idle, as far as exec and the guest go
 * (docs/architecture.md §7): the one home of activity holds.
 *
 * A hold marks a sandbox as in use by work that has no session (an HTTP exec,
 * a file transfer, a proxied connection: taken through guest.ts `useAgent` or
 * exec.ts). The session registry (sessions.ts) adds its sessions and clients
 * and is what the idle policy reads (`activity()`, the `change` event).
 */

/** What keeps a sandbox busy; all zero means idle as far as exec and files go. */
export interface SandboxActivity {
  /** Websockets attached to its sessions. */
  readonly attachedClients: number;
  /** Sessions whose process runs, attached or not. */
  readonly runningSessions: number;
  /** Requests in progress that use the guest without a session (HTTP exec, file transfers). */
  readonly holds: number;
}

/** Counts holds per sandbox; `onChange` runs whenever a sandbox's count changes. */
export class ActivityHolds {
  private readonly counts = new Map<string, number>();

  constructor(private readonly onChange: (sandbox: string) => void) {}

  /** Holds the sandbox until the returned function is called (idempotent). */
  hold(sandbox: string): () => void {
    this.counts.set(sandbox, (this.counts.get(sandbox) ?? 0) + 1);
    this.onChange(sandbox);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.counts.get(sandbox) ?? 1) - 1;
      if (left > 0) this.counts.set(sandbox, left);
      else this.counts.delete(sandbox);
      this.onChange(sandbox);
    };
  }

  count(sandbox: string): number {
    return this.counts.get(sandbox) ?? 0;
  }
}
