import { ConflictError } from '../errors.js';

/**
 * One operation at a time per key (a sandbox id). A second operation on a busy
 * key fails at once with ConflictError rather than queueing: the caller asked
 * for something that conflicts with work in progress, and hob says so (409).
 */
export class KeyedLock {
  private readonly busy = new Map<string, string>();

  /** Runs `work` holding the key's lock. `what` names the operation for the error message. */
  async run<T>(key: string, what: string, work: () => Promise<T>): Promise<T> {
    const current = this.busy.get(key);
    if (current !== undefined) throw new ConflictError(`cannot ${what}: ${current} is in progress`);
    this.busy.set(key, what);
    try {
      return await work();
    } finally {
      this.busy.delete(key);
    }
  }

  /** What is running on a key, if anything. */
  holder(key: string): string | undefined {
    return this.busy.get(key);
  }
}
