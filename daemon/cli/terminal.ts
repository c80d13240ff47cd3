/**
 * Raw mode of the local terminal for TTY sessions (console, exec -t, attach).
 * Restored by `restore()`, which every exit path of a session calls, and as a
 * last resort on process exit (process.exit, an uncaught exception), so the
 * user's shell is never left in raw mode.
 */
import type { CliInput } from './context.js';

export interface RawMode {
  /** Puts the terminal back into its normal mode. Idempotent. */
  restore(): void;
}

/** Switches `stdin` to raw mode; undefined when it is not a terminal (nothing to restore then). */
export function enterRawMode(stdin: CliInput): RawMode | undefined {
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') return undefined;
  stdin.setRawMode(true);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    process.off('exit', restore);
    try {
      stdin.setRawMode?.(false);
    } catch {
      // The terminal is gone (hangup): nothing to restore.
    }
  };
  process.on('exit', restore);
  return { restore };
}

/** Ctrl+\ : detaches from a TTY session (the session keeps running). */
export const DETACH_KEY = 0x1c;
