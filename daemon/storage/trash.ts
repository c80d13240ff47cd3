/**
 * Background deletion. Deleting a big subvolume tree is quick for btrfs but
 * still a few commands; restore and destroy should not wait for it. So a
 * subvolume is first renamed into `trash/` (atomic: it is either still in its
 * place or in the trash, never half-deleted in its place) and then deleted
 * here, one entry at a time. Whatever a crash leaves in `trash/` is deleted
 * at the next start-up.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError } from './errors.js';
import { deleteTree } from './subvolume.js';

export class TrashQueue {
  private readonly pending: string[] = [];
  private running: Promise<void> | undefined;
  private readonly idleWaiters: Array<() => void> = [];

  /**
   * @param dir the trash directory (`<pool>/trash`).
   * @param onError called for an entry that could not be deleted; the entry
   *   stays in the trash and is retried at the next start-up.
   */
  constructor(
    private readonly dir: string,
    private readonly onError: (err: Error, path: string) => void,
  ) {}

  /** Queues every entry currently in the trash directory (start-up recovery). */
  async enqueueExisting(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw fsError('readdir', this.dir, err);
    }
    for (const n of names.sort()) this.enqueue(join(this.dir, n));
    return names.length;
  }

  /** Queues `path` (already inside the trash directory) for deletion. */
  enqueue(path: string): void {
    if (!this.pending.includes(path)) this.pending.push(path);
    this.running ??= this.loop();
  }

  /** Resolves once nothing is queued or being deleted. Never rejects. */
  drain(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async loop(): Promise<void> {
    // Let the caller's synchronous code finish first.
    await Promise.resolve();
    for (let path = this.pending.shift(); path !== undefined; path = this.pending.shift()) {
      try {
        await deleteTree(path);
      } catch (err) {
        this.onError(err instanceof Error ? err : new Error(String(err)), path);
      }
    }
    this.running = undefined;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
