import { ConflictError } from '../errors.js';

/**
 * One operation at a time per key (a sandbox id). A second operation on a busy
 * key fails at once with ConflictError rather than queueing: the caller asked
 * for something that conflicts with work in progress, and hob says so (409).
 *
 * Except for background work: what hob does by itself (idle sleep, automatic
 * checkpoints) never makes a request fail. An operation that finds the key held
 * by background work waits for it to finish, then takes the key (or conflicts
 * with whatever took it meanwhile).
 */
export class KeyedLock {
  private readonly busy = new Map<string, { what: string; background: boolean; done: Promise<void> }>();

  /**
   * Runs `work` holding the key's lock. `what` names the operation for the error
   * message; `background` marks work hob started by itself (see above).
   */
  async run<T>(key: string, what: string, work: () => Promise<T>, opts: { background?: boolean } = {}): Promise<T> {
    // Background work itself does not wait: it conflicts, and hob tries again later.
    if (!opts.background) for (let held = this.busy.get(key); held?.background; held = this.busy.get(key)) await held.done;
    const current = this.busy.get(key);
    if (current !== undefined) throw new ConflictError(`cannot ${what}: ${current.what} is in progress`);
    let release = (): void => {};
    this.busy.set(key, { what, background: opts.background ?? false, done: new Promise<void>((resolve) => (release = resolve)) });
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
