/**
 * Bounds a promise in time: agent calls have no timeout of their own, and a
 * wrecked (or hostile) guest may never answer. Every agent call the manager
 * makes while it holds a sandbox's lock goes through withDeadline with one of
 * the named deadlines below; what happens when it passes (kill the VMM, log and
 * go on) is decided at the call site and said there.
 */
import { TimeoutError } from '../errors.js';

/**
 * `sync` before a stop. A guest with many dirty pages under TCG may need a few
 * seconds; longer than this and the stop goes on without it (the VMM is asked
 * to power off, then killed). Also bounded by the stop's grace time.
 */
export const SYNC_DEADLINE_MS = 10_000;
/** `shutdown`: the agent only acknowledges before powering off, so this is short. */
export const SHUTDOWN_DEADLINE_MS = 5_000;
/** `clock.set` after a resume: one syscall in the guest. */
export const CLOCK_DEADLINE_MS = 5_000;
/** Publishing the network policy into the guest: a small file write and a chmod. */
export const POLICY_PUBLISH_DEADLINE_MS = 10_000;
/**
 * A fork's new identity: a short script, but it may regenerate ssh host keys,
 * which takes tens of seconds under TCG.
 */
export const IDENTITY_DEADLINE_MS = 60_000;

/** Resolves or rejects like `promise`, or rejects with TimeoutError after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  // The loser must not become an unhandled rejection (the agent call may fail once the VMM is killed).
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `random.reseed` after a memory restore: the agent starts perl for two ioctls; slow under TCG. */
export const RESEED_DEADLINE_MS = 15_000;
/** Growing a resumed template copy's filesystem: waiting for the new size, then an online resize2fs. */
export const GROW_DEADLINE_MS = 60_000;

/** `boot.timeline` after a boot: the agent reads a small file. Not under a lock, but bounded all the same. */
export const BOOT_TIMELINE_DEADLINE_MS = 10_000;
