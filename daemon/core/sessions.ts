/**
 * The session registry: every exec session (session.ts) of every sandbox.
 *
 * Sessions end when their process exits, or at once when the sandbox stops or
 * is removed (`endSandbox`). An ended session stays listed for
 * EXITED_RETENTION_MS so that a late attach still gets its output and exit
 * code, and a kill gets 410 Gone rather than 404.
 *
 * The registry is what the idle policy reads (`activity()`, the `change`
 * event): an attached client, a running detached session, or a request
 * holding the sandbox (`hold()`, activity.ts: HTTP exec, file transfers)
 * keeps it awake.
 */
import { EventEmitter } from 'node:events';
import { ActivityHolds, type SandboxActivity } from './activity.js';
import type { GuestProcess } from './guest-process.js';
import { Session, type SessionStartInfo } from './session.js';

export const EXITED_RETENTION_MS = 60_000;
export const MAX_EXITED_PER_SANDBOX = 50;

export interface SessionRegistryEvents {
  /** Something changed for a sandbox's sessions (started, ended, client attached or detached). */
  change: [sandbox: string];
}

/** All sessions of all sandboxes, by sandbox name. */
export class SessionRegistry extends EventEmitter<SessionRegistryEvents> {
  private readonly bySandbox = new Map<string, Map<string, Session>>();
  private readonly expiry = new Map<Session, NodeJS.Timeout>();
  private readonly holds = new ActivityHolds((sandbox) => this.emit('change', sandbox));

  /** Registers a started process as a session. Its id is the guest pid (made unique if a pid was reused). */
  start(sandbox: string, process: GuestProcess, info: SessionStartInfo): Session {
    const sessions = this.sessionsOf(sandbox, true)!;
    let id = String(process.pid);
    const previous = sessions.get(id);
    if (previous?.exited) this.forget(previous);
    for (let n = 2; sessions.has(id); n++) id = `${process.pid}-${n}`;
    const session = new Session(id, sandbox, process, info);
    sessions.set(id, session);
    session.on('change', () => {
      if (session.exited && !this.expiry.has(session)) this.retire(session);
      this.emit('change', sandbox);
    });
    this.emit('change', sandbox);
    return session;
  }

  get(sandbox: string, id: string): Session | undefined {
    return this.bySandbox.get(sandbox)?.get(id);
  }

  /** Sessions of a sandbox, oldest first, ended ones included while retained. */
  list(sandbox: string): Session[] {
    return [...(this.bySandbox.get(sandbox)?.values() ?? [])].sort((a, b) => a.created.getTime() - b.created.getTime());
  }

  /** Clients attached to any session of the sandbox (what the idle policy reads). */
  attachedClients(sandbox: string): number {
    let n = 0;
    for (const session of this.bySandbox.get(sandbox)?.values() ?? []) n += session.attachedCount;
    return n;
  }

  /** Sessions of the sandbox whose process is still running, attached or not. */
  runningSessions(sandbox: string): number {
    let n = 0;
    for (const session of this.bySandbox.get(sandbox)?.values() ?? []) if (!session.exited) n++;
    return n;
  }

  /**
   * Marks the sandbox as in use by a request that has no session (an HTTP exec,
   * a file transfer) until the returned function is called (idempotent; activity.ts).
   */
  hold(sandbox: string): () => void {
    return this.holds.hold(sandbox);
  }

  /** Everything the API knows that keeps the sandbox busy; all zero means idle as far as exec and files go. */
  activity(sandbox: string): SandboxActivity {
    return { attachedClients: this.attachedClients(sandbox), runningSessions: this.runningSessions(sandbox), holds: this.holds.count(sandbox) };
  }

  /** Ends every running session of a sandbox (it stopped or is being removed). Ended sessions stay listed for a while. */
  endSandbox(sandbox: string, reason: string): void {
    for (const session of this.list(sandbox)) session.abandon(reason);
  }

  /** Ends and forgets every session of a sandbox (it was removed). */
  removeSandbox(sandbox: string, reason: string): void {
    this.endSandbox(sandbox, reason);
    for (const session of this.list(sandbox)) this.forget(session);
    this.bySandbox.delete(sandbox);
  }

  /** Ends everything (daemon shutdown). */
  shutdown(reason: string): void {
    for (const sandbox of [...this.bySandbox.keys()]) this.removeSandbox(sandbox, reason);
  }

  private sessionsOf(sandbox: string, create: boolean): Map<string, Session> | undefined {
    let sessions = this.bySandbox.get(sandbox);
    if (!sessions && create) {
      sessions = new Map();
      this.bySandbox.set(sandbox, sessions);
    }
    return sessions;
  }

  /** Keeps an ended session listed for EXITED_RETENTION_MS, and at most MAX_EXITED_PER_SANDBOX of them. */
  private retire(session: Session): void {
    const timer = setTimeout(() => this.forget(session), EXITED_RETENTION_MS);
    timer.unref();
    this.expiry.set(session, timer);
    const ended = this.list(session.sandbox).filter((s) => s.exited);
    for (const old of ended.slice(0, Math.max(0, ended.length - MAX_EXITED_PER_SANDBOX))) this.forget(old);
  }

  private forget(session: Session): void {
    const timer = this.expiry.get(session);
    if (timer) clearTimeout(timer);
    this.expiry.delete(session);
    const sessions = this.bySandbox.get(session.sandbox);
    if (sessions?.get(session.id) === session) sessions.delete(session.id);
    if (sessions && sessions.size === 0) this.bySandbox.delete(session.sandbox);
    session.removeAllListeners();
  }
}
