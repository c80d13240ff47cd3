/**
 * Sprites' tasks, asked for inside a guest (`/v1/tasks` on /.sprite/api.sock):
 * named keep-awake holds of at most an hour each, refreshed by the program
 * that holds them. hob keeps one hold per sandbox (the one `hob keep-awake`
 * and `hob-keep-awake` set, docs/architecture.md §7); tasks are folded into
 * it: after every change the hold is set to last until the latest task
 * expires, or released when the last task is deleted. The last change wins,
 * from either side, as for the other ways of holding a sandbox. Tasks live in
 * hobd's memory (a restarted hobd forgets them; the hold they set stays until
 * it expires), at most MAX_TASKS per sandbox.
 */
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';

/** Tasks one sandbox may hold. */
export const MAX_TASKS = 32;

export interface Task {
  readonly name: string;
  readonly startedAt: number;
  readonly expiresAt: number;
}

/** Sets (seconds from now) or releases (null) the hold of the sandbox `name`. */
export type SetHold = (name: string, seconds: number | null) => Promise<unknown>;

export class GuestTasks {
  /** Tasks by sandbox id, then by task name. */
  private readonly bySandbox = new Map<string, Map<string, Task>>();

  constructor(private readonly setHold: SetHold) {}

  list(sandboxId: string, now = Date.now()): Task[] {
    return [...this.live(sandboxId, now).values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(sandboxId: string, name: string): Task {
    const task = this.live(sandboxId, Date.now()).get(name);
    if (!task) throw new NotFoundError(`no task named "${name}"`);
    return task;
  }

  /** Creates a task (409 if one by that name is live), or with `upsert` creates or refreshes it. */
  async put(sandboxId: string, sandboxName: string, name: string, seconds: number, upsert: boolean): Promise<Task> {
    const now = Date.now();
    const tasks = this.live(sandboxId, now);
    const existing = tasks.get(name);
    if (existing && !upsert) throw new ConflictError(`a task named "${name}" exists`);
    if (!existing && tasks.size >= MAX_TASKS) throw new BadRequestError(`at most ${MAX_TASKS} tasks per sandbox`);
    const task: Task = { name, startedAt: existing?.startedAt ?? now, expiresAt: now + seconds * 1000 };
    tasks.set(name, task);
    this.bySandbox.set(sandboxId, tasks);
    await this.apply(sandboxId, sandboxName, now);
    return task;
  }

  async remove(sandboxId: string, sandboxName: string, name: string): Promise<void> {
    const tasks = this.live(sandboxId, Date.now());
    if (!tasks.delete(name)) throw new NotFoundError(`no task named "${name}"`);
    await this.apply(sandboxId, sandboxName, Date.now());
  }

  /** Forgets a sandbox's tasks (it was destroyed or restored). */
  forget(sandboxId: string): void {
    this.bySandbox.delete(sandboxId);
  }

  private live(sandboxId: string, now: number): Map<string, Task> {
    const tasks = this.bySandbox.get(sandboxId) ?? new Map<string, Task>();
    for (const [name, task] of tasks) if (task.expiresAt <= now) tasks.delete(name);
    if (tasks.size === 0) this.bySandbox.delete(sandboxId);
    return tasks;
  }

  private async apply(sandboxId: string, sandboxName: string, now: number): Promise<void> {
    const tasks = this.live(sandboxId, now);
    const latest = Math.max(0, ...[...tasks.values()].map((t) => t.expiresAt));
    await this.setHold(sandboxName, latest > now ? Math.ceil((latest - now) / 1000) : null);
  }
}
