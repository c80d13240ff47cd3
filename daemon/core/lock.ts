import { ConflictError } from '../errors.js';

/**
 * One operation at a time per key (a sandbox id). A second operation on a busy
 * key fails at once with ConflictError rather than queueing: the caller asked
 * for something that conflicts with work in progress, and hob says so (409).
 */
export class KeyedLock {
  private readonly busy = new Map<string, { what: string; done: Promise<void> }>();

  /** Runs `work` holding the key's lock. `what` names the operation for the error message. */
  async run<T>(key: string, what: string, work: () => Promise<T>): Promise<T> {
    const current = this.busy.get(key);
    if (current !== undefined) throw new ConflictError(`cannot ${what}: ${current.what} is in progress`);
    let release = (): void => {};
    this.busy.set(key, { what, done: new Promise<void>((resolve) => (release = resolve)) });
    try {
      return await work();
    } finally {
      this.busy.delete(key);
      release();
    }
  }

  /**
   * Resolves once the operation holding the key (if any) has finished. For
   * callers that must wait rather than conflict: a request waking a sandbox
   * that the idle policy is putting to sleep at that moment.
   */
  async released(key: string): Promise<void> {
    await this.busy.get(key)?.done;
  }

  /** What is running on a key, if anything. */
  holder(key: string): string | undefined {
    return this.busy.get(key)?.what;
  }
}
