/**
 * Restart backoff of a service whose process exits on its own (or cannot be
 * started): 1 s, doubling up to 60 s; a process that ran for 60 s or more
 * counts as healthy, so its next failure starts over at 1 s.
 */
export const BACKOFF_INITIAL_MS = 1000;
export const BACKOFF_MAX_MS = 60_000;
/** Uptime after which a process's exit no longer counts as a quick failure. */
export const BACKOFF_RESET_AFTER_MS = 60_000;

/**
 * Delay before the next restart. `previousMs` is the delay used before the
 * process that just ended (undefined when it is the first failure);
 * `uptimeMs` is how long that process ran (0 when it could not start).
 */
export function nextRestartDelay(previousMs: number | undefined, uptimeMs: number): number {
  if (previousMs === undefined || uptimeMs >= BACKOFF_RESET_AFTER_MS) return BACKOFF_INITIAL_MS;
  return Math.min(Math.max(previousMs, BACKOFF_INITIAL_MS) * 2, BACKOFF_MAX_MS);
}
