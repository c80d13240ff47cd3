/** Bounds a promise in time: agent calls have no timeout of their own, and a wrecked guest may never answer. */
import { TimeoutError } from '../errors.js';

/** Resolves or rejects like `promise`, or rejects with TimeoutError after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
